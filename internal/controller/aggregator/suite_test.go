package aggregator_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/aggregator"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/testenv"
)

// One control plane (with the Gateway API CRDs and Plattr's admission
// policies) and one manager running both reconcilers serve every test of
// the package; each test works in its own namespaces and aggregator.
var (
	cluster  *testenv.Cluster
	k8s      client.Client
	writes   atomic.Int64
	nsSerial atomic.Int32
	writeLog sync.Map // object → count, for a failing write-count test
)

const platformNamespace = "plattr-system"

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var err error
	cluster, err = testenv.StartCluster(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k8s, err = client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		panic(err)
	}
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		panic(err)
	}
	stop, err := startManager()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cluster.Stop()
		os.Exit(1)
	}
	code := m.Run()
	stop()
	cluster.Stop()
	os.Exit(code)
}

func count(what string) {
	writes.Add(1)
	v, _ := writeLog.LoadOrStore(what, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// startManager runs the two reconcilers with the operator's cache rules
// (only Plattr's own Services and Namespaces are cached) and a client that
// counts every write.
func startManager() (func(), error) {
	managed := labels.SelectorFromSet(labels.Set{platformv1.LabelManagedBy: platformv1.ManagedByValue})
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:  operator.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Service{}: {Label: managed}, &corev1.Namespace{}: {Label: managed},
		}},
		NewClient: func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, o)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, interceptor.Funcs{
				Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					count(fmt.Sprintf("create %T %s", obj, obj.GetName()))
					return c.Create(ctx, obj, opts...)
				},
				Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
					count(fmt.Sprintf("patch %T %s", obj, obj.GetName()))
					return c.Patch(ctx, obj, p, opts...)
				},
				Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
					name := ""
					if n, ok := obj.(interface{ GetName() *string }); ok && n.GetName() != nil {
						name = *n.GetName()
					}
					count(fmt.Sprintf("apply %T %s", obj, name))
					return c.Apply(ctx, obj, opts...)
				},
				Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
					count(fmt.Sprintf("delete %T %s", obj, obj.GetName()))
					return c.Delete(ctx, obj, opts...)
				},
				SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
					count(fmt.Sprintf("status %T %s", obj, obj.GetName()))
					return c.SubResource(sub).Patch(ctx, obj, p, opts...)
				},
				SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
					count(fmt.Sprintf("status %T %s", obj, obj.GetName()))
					return c.SubResource(sub).Update(ctx, obj, opts...)
				},
			}), nil
		},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := aggregator.SetupIndexes(ctx, mgr); err != nil {
		cancel()
		return nil, err
	}
	deps := kit.Deps{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("plattr-operator"),
		Config: config.Operator{PlatformNamespace: platformNamespace}}
	if err := (&aggregator.AggregatorReconciler{Deps: deps}).SetupWithManager(mgr, true); err != nil {
		cancel()
		return nil, err
	}
	if err := (&aggregator.TargetReconciler{Deps: deps}).SetupWithManager(mgr, true); err != nil {
		cancel()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() { cancel(); <-done }, nil
}

// namespace makes a fresh namespace with labels.
func namespace(t *testing.T, prefix string, lbls map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, nsSerial.Add(1))
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// service makes a Service with a selector and port 80 in ns.
func service(t *testing.T, ns, name string) {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80}}}}
	if err := k8s.Create(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
}

// aggregatorFor creates an aggregator for host, selecting sel (nil: every
// namespace).
func aggregatorFor(t *testing.T, name, host string, sel *metav1.LabelSelector) *platformv1.ApiAggregator {
	t.Helper()
	if sel == nil {
		sel = &metav1.LabelSelector{}
	}
	a := &platformv1.ApiAggregator{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: name},
		Spec: platformv1.ApiAggregatorSpec{Hostname: host, NamespaceSelector: sel}}
	if err := k8s.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

func routeTo(path, svc string) platformv1.ApiRoute {
	return platformv1.ApiRoute{Path: path, PathType: platformv1.ApiPathPrefix, Service: platformv1.ApiRouteService{Name: svc, Port: 80}}
}

func target(t *testing.T, ns, name, agg string, routes ...platformv1.ApiRoute) *platformv1.ApiAggregatorTarget {
	t.Helper()
	tg := &platformv1.ApiAggregatorTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: platformv1.ApiAggregatorTargetSpec{AggregatorRef: agg, Routes: routes}}
	if err := k8s.Create(context.Background(), tg); err != nil {
		t.Fatal(err)
	}
	return tg
}

// eventually polls until check passes (nil) or 90 s have gone, then fails
// with check's last complaint.
func eventually[T any](t *testing.T, what string, get func() (T, error), check func(T) string) T {
	t.Helper()
	var last string
	var got T
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		v, err := get()
		if err != nil {
			last = err.Error()
			return false, nil
		}
		got = v
		last = check(v)
		return last == "", nil
	})
	if err != nil {
		t.Fatalf("%s: %s", what, last)
	}
	return got
}

func getTarget(ns, name string) func() (*platformv1.ApiAggregatorTarget, error) {
	return func() (*platformv1.ApiAggregatorTarget, error) {
		tg := &platformv1.ApiAggregatorTarget{}
		return tg, k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, tg)
	}
}

func getAggregator(name string) func() (*platformv1.ApiAggregator, error) {
	return func() (*platformv1.ApiAggregator, error) {
		a := &platformv1.ApiAggregator{}
		return a, k8s.Get(context.Background(), client.ObjectKey{Namespace: platformNamespace, Name: name}, a)
	}
}

// cond checks a condition of obj at its current generation; "" if it holds.
func cond(obj capability.Owner, typ string, status metav1.ConditionStatus, reason string) string {
	c := capability.Condition(obj, typ)
	switch {
	case c == nil:
		return typ + " not set"
	case c.ObservedGeneration != obj.GetGeneration():
		return fmt.Sprintf("%s is of generation %d, not %d", typ, c.ObservedGeneration, obj.GetGeneration())
	case c.Status != status || (reason != "" && c.Reason != reason):
		return fmt.Sprintf("%s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return ""
}

// states is "path=State" for each route of a target's status.
func states(tg *platformv1.ApiAggregatorTarget) string {
	var out []string
	for _, r := range tg.Status.Routes {
		s := r.Path + "=" + string(r.State)
		if r.Owner != "" {
			s += "(" + r.Owner + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}
