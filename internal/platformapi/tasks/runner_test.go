package tasks_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/platformapi/tasks"
	"github.com/plattr/plattr/internal/testenv"
)

// gate holds the runners' applies until it is opened: a task's duration is
// the test's to choose.
type gate struct {
	open     atomic.Pointer[chan struct{}]
	applies  atomic.Int32 // applies started
	canceled chan error   // the cause, when a held apply's context ended first
}

func (g *gate) hold() { ch := make(chan struct{}); g.open.Store(&ch) }

func (g *gate) release() { close(*g.open.Load()) }

// gatedRunners starts two runners (two replicas) on one real database and
// control plane whose applies wait at the gate.
func gatedRunners(t *testing.T, lease time.Duration) (*store.Store, *gate) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, pg, err := testenv.StartClusterAndPostgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Stop)
	t.Cleanup(pg.Stop)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := platformv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	kube, err := client.NewWithWatch(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lease"}}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, pg.URL(), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	g := &gate{canceled: make(chan error, 4)}
	g.hold()
	gated := interceptor.NewClient(kube, interceptor.Funcs{
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			g.applies.Add(1)
			select {
			case <-*g.open.Load():
			case <-ctx.Done():
				g.canceled <- context.Cause(ctx)
				return ctx.Err()
			}
			return c.Apply(ctx, obj, opts...)
		},
	})
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, name := range []string{"replica-1", "replica-2"} {
		r := &tasks.Runner{Store: st, Client: gated, Replica: name, Lease: lease, Log: logr.Discard()}
		r.Init()
		go func() { r.Run(rctx); done <- struct{}{} }()
	}
	t.Cleanup(func() { stop(); <-done; <-done })
	return st, g
}

func install(t *testing.T, st *store.Store, name string) store.Task {
	t.Helper()
	spec := &platformv1.ApplicationSpec{Repository: "github.com/example/" + name, Framework: "docker", Environment: "staging", ImageRef: "registry.example.com/" + name + ":1"}
	task, err := st.CreateTask(context.Background(), store.NewTask{Namespace: "lease", App: name, Operation: store.OpInstall, Actor: "dev@plattr.test",
		Request: tasks.Request{Spec: spec}})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func waitFor(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A task that runs longer than the lease keeps its claim (the runner
// renews it): the other replica never takes it over, so it runs once. A
// claim lost anyway (taken over while its replica stalled) cancels the
// task on the replica that lost it.
func TestTaskLongerThanItsLeaseRunsOnce(t *testing.T) {
	const lease = time.Second
	st, g := gatedRunners(t, lease)
	ctx := context.Background()

	task := install(t, st, "slow")
	waitFor(t, 10*time.Second, "the install claimed", func() bool { return g.applies.Load() >= 1 })
	// Four leases long: without renewal the other replica claims it after
	// one and the app's apply starts a second time.
	time.Sleep(4 * lease)
	got, err := st.GetTask(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.TaskStarted || got.Attempts != 1 || g.applies.Load() != 1 {
		t.Fatalf("after 4 leases: state %s, attempts = %d, applies = %d; want Started, 1, 1", got.State, got.Attempts, g.applies.Load())
	}
	g.release()
	waitFor(t, 20*time.Second, "the install done", func() bool {
		got, err = st.GetTask(ctx, task.ID)
		return err == nil && got.State != store.TaskStarted
	})
	if got.State != store.TaskDone || got.Attempts != 1 || g.applies.Load() != 1 {
		t.Fatalf("install finished %s (%s), attempts = %d, applies = %d; want Done, 1, 1", got.State, got.Reason, got.Attempts, g.applies.Load())
	}

	// The claim is taken away mid-task (as a takeover after a stall would
	// do): the replica that lost it stops the task rather than finish it
	// beside the new holder.
	g.hold()
	g.applies.Store(0)
	task = install(t, st, "stalled")
	waitFor(t, 10*time.Second, "the second install claimed", func() bool { return g.applies.Load() >= 1 })
	if _, err := st.Pool.Exec(ctx, "UPDATE tasks SET claimed_by = 'elsewhere' WHERE id = $1", task.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-g.canceled:
		if cause == nil || !strings.Contains(cause.Error(), "another replica took it over") {
			t.Fatalf("the task was stopped by %v, want the lost claim", cause)
		}
		t.Logf("the task stopped: %v", cause)
	case <-time.After(5 * lease):
		t.Fatal("the replica that lost the claim kept running the task")
	}
	g.release()
}
