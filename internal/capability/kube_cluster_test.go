package capability_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/testenv"
)

// On a real API server: a child missing from the cache is created with one
// request and no read past the cache, yet an object of that name that
// another owner controls is never taken over — whether or not its fields
// conflict with Plattr's — and an unowned one edited by someone else is
// taken back, as before the read was skipped.
func TestApplyOfAChildMissingFromTheCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, err := testenv.StartCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	c := mustWatch(t, cluster)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	newApp := func(name string) *platformv1.Application {
		app := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
			Spec: platformv1.ApplicationSpec{Repository: "github.com/example/" + name, Framework: "docker", Environment: platformv1.EnvironmentStaging}}
		if err := c.Create(ctx, app); err != nil {
			t.Fatal(err)
		}
		return app
	}
	app, other := newApp("web"), newApp("other")
	target := capabilitytest.Target(app)

	// The operator's cache holds only Plattr's labelled objects: here, a
	// client whose reads miss every object without the label.
	var pastCache, writes atomic.Int64
	cached := interceptor.NewClient(mustWatch(t, cluster), interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := cl.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			if obj.GetLabels()[platformv1.LabelManagedBy] != platformv1.ManagedByValue {
				return apierrors.NewNotFound(corev1.Resource("configmaps"), key.Name)
			}
			return nil
		},
		Apply: func(ctx context.Context, cl client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			writes.Add(1)
			return cl.Apply(ctx, obj, opts...)
		},
	})
	reader := interceptor.NewClient(mustWatch(t, cluster), interceptor.Funcs{
		Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			pastCache.Add(1)
			return cl.Get(ctx, key, obj, opts...)
		},
	})
	kube := capability.Kube{Client: cached, APIReader: reader, Recorder: events.NewFakeRecorder(10)}
	desired := func(name string) *corev1ac.ConfigMapApplyConfiguration {
		return corev1ac.ConfigMap(name, "shop").WithLabels(target.Labels).
			WithOwnerReferences(target.OwnerReference()).WithData(map[string]string{"S3_REGION": "eu"})
	}
	apply := func(name string) error {
		return capability.Apply(ctx, kube, target, &corev1.ConfigMap{}, desired(name), corev1ac.ExtractConfigMap)
	}
	get := func(name string) *corev1.ConfigMap {
		t.Helper()
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, cm); err != nil {
			t.Fatal(err)
		}
		return cm
	}
	otherRef := metav1.OwnerReference{APIVersion: platformv1.GroupVersion.String(), Kind: "Application", Name: other.Name, UID: other.UID, Controller: ptrTrue()}

	t.Run("new", func(t *testing.T) {
		pastCache.Store(0)
		writes.Store(0)
		if err := apply("new"); err != nil {
			t.Fatal(err)
		}
		if pastCache.Load() != 0 || writes.Load() != 1 {
			t.Errorf("creating a child: %d reads past the cache and %d applies, want 0 and 1", pastCache.Load(), writes.Load())
		}
		if cm := get("new"); cm.Data["S3_REGION"] != "eu" || !target.Owns(cm) {
			t.Errorf("created %+v", cm)
		}
	})

	for _, c2 := range []struct {
		name string
		data map[string]string
	}{
		{"controlled-disjoint", map[string]string{"OTHER": "x"}},         // no field conflict: refused as a second controller
		{"controlled-conflicting", map[string]string{"S3_REGION": "us"}}, // a field conflict
	} {
		t.Run(c2.name, func(t *testing.T) {
			theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: c2.name, OwnerReferences: []metav1.OwnerReference{otherRef}}, Data: c2.data}
			if err := c.Create(ctx, theirs, client.FieldOwner("helm")); err != nil {
				t.Fatal(err)
			}
			err := apply(c2.name)
			if !errors.Is(err, capability.ErrControlledByOther) {
				t.Fatalf("applying over another owner's object: %v, want ErrControlledByOther", err)
			}
			cm := get(c2.name)
			if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != other.UID || cm.Labels[platformv1.LabelManagedBy] != "" || len(cm.Data) != len(c2.data) {
				t.Errorf("another owner's object changed: %+v", cm)
			}
		})
	}

	t.Run("unowned-edited", func(t *testing.T) {
		theirs := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "unowned"}, Data: map[string]string{"S3_REGION": "us"}}
		if err := c.Create(ctx, theirs, client.FieldOwner("kubectl-create")); err != nil {
			t.Fatal(err)
		}
		if err := apply("unowned"); err != nil {
			t.Fatal(err)
		}
		if cm := get("unowned"); cm.Data["S3_REGION"] != "eu" || !target.Owns(cm) || cm.Labels[platformv1.LabelManagedBy] != platformv1.ManagedByValue {
			t.Errorf("an unowned object was not taken back: %+v", cm)
		}
	})
}

func ptrTrue() *bool { b := true; return &b }

func mustWatch(t *testing.T, cluster *testenv.Cluster) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := platformv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
