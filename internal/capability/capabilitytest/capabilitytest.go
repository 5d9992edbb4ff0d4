// Package capabilitytest builds what the capabilities' table tests share: a
// fake Kubernetes client (controller-runtime's, with server-side apply and
// managed fields) that counts writes, a recorder, and a Target for an
// Application. The backends are faked per capability, behind the small
// interfaces each capability declares; their effects on the real servers
// are tested in internal/controller/application.
package capabilitytest

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
)

// Env is one test's Kubernetes side.
type Env struct {
	Kube     capability.Kube
	Client   client.Client
	Recorder *events.FakeRecorder
	writes   atomic.Int64
}

// Writes is how many create, update, patch, apply and delete calls reached
// the fake API server.
func (e *Env) Writes() int64 { return e.writes.Load() }

// NewEnv starts a fake client holding objs.
func NewEnv(t *testing.T, objs ...client.Object) *Env {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := platformv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	e := &Env{Recorder: events.NewFakeRecorder(100)}
	count := func() { e.writes.Add(1) }
	e.Client = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithReturnManagedFields().
		// As on a real API server: writes to the object leave its status alone.
		WithStatusSubresource(&appsv1.Deployment{}, &autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{},
			&platformv1.Application{}, &platformv1.PreviewEnvironment{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if err := c.Get(ctx, key, obj, opts...); err != nil {
					return err
				}
				dropEmptyStatusFields(obj)
				return nil
			},
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				count()
				return c.Create(ctx, obj, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				count()
				return c.Update(ctx, obj, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				count()
				return c.Patch(ctx, obj, patch, opts...)
			},
			Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
				count()
				return c.Apply(ctx, obj, opts...)
			},
			// The fake client has no scale subresource; the body Plattr
			// sends it ({"spec":{"replicas":n}}) patches the object alike.
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				count()
				if sub == "scale" {
					return c.Patch(ctx, obj, patch)
				}
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
			Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				count()
				return c.Delete(ctx, obj, opts...)
			},
		}).Build()
	e.Kube = capability.Kube{Client: e.Client, APIReader: e.Client, Recorder: e.Recorder}
	return e
}

// App is an Application named name in namespace ns.
func App(ns, name string) *platformv1.Application {
	return &platformv1.Application{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name, UID: types.UID("uid-" + name), Generation: 1,
	}}
}

// Target is app as the Application controller presents it.
func Target(app *platformv1.Application) capability.Target {
	return capability.Target{
		Owner:     app,
		Namespace: app.Namespace,
		Controller: metav1.OwnerReference{
			APIVersion: platformv1.GroupVersion.String(), Kind: "Application", Name: app.Name, UID: app.UID,
		},
		Labels: map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue, platformv1.LabelApp: app.Name},
	}
}

// Condition returns app's condition typ, failing the test if it is missing.
func Condition(t *testing.T, app *platformv1.Application, typ string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(app.Status.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition; conditions: %+v", typ, app.Status.Conditions)
	}
	return *c
}

// Events drains the recorded Events.
func (e *Env) Events() []string {
	var out []string
	for {
		select {
		case ev := <-e.Recorder.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// dropEmptyStatusFields removes the empty "f:status" the fake client
// records for a server-side apply of the main resource. A real API server
// records no status fields there when the kind has a status subresource,
// and Plattr's comparison of owned fields would otherwise see a
// difference that never exists in a cluster.
func dropEmptyStatusFields(obj client.Object) {
	mfs := obj.GetManagedFields()
	for i, mf := range mfs {
		if mf.FieldsV1 == nil || mf.Subresource != "" {
			continue
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields) != nil || string(fields["f:status"]) != "{}" {
			continue
		}
		delete(fields, "f:status")
		raw, err := json.Marshal(fields)
		if err != nil {
			continue
		}
		mfs[i].FieldsV1 = metav1.NewFieldsV1(string(raw))
	}
	obj.SetManagedFields(mfs)
}
