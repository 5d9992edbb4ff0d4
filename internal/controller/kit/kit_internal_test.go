package kit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/controller/wake"
)

var refused = capability.Unavailable(capability.BackendDatabase, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})

func newKit[T Object](t *testing.T, newObj func() T, objs ...client.Object) (*Kit[T], *capabilitytest.Env) {
	env := capabilitytest.NewEnv(t, objs...)
	return &Kit[T]{Name: "test", Client: env.Client, Recorder: env.Recorder, New: newObj}, env
}

// kstatusOf is what Flux, kpt and Config Sync read from obj.
func kstatusOf(t *testing.T, obj runtime.Object) status.Status {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// The derivation, for every kind the kit serves: the phase, the attempts
// rule, the kstatus conditions (checked with the library itself) and
// observedGeneration on every write, failing ones included.
func TestFinishFollowsOneRuleForEveryKind(t *testing.T) {
	type kind struct {
		name     string
		new      func(gen int64, before func(platformv1.CommonStatus)) Object
		attempts bool
	}
	meta := func(gen int64) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: "ns", Name: "x", Generation: gen}
	}
	kinds := []kind{
		{"Application", func(gen int64, f func(platformv1.CommonStatus)) Object {
			o := &platformv1.Application{ObjectMeta: meta(gen)}
			f(o.CommonStatus())
			return o
		}, true},
		{"PreviewEnvironment", func(gen int64, f func(platformv1.CommonStatus)) Object {
			o := &platformv1.PreviewEnvironment{ObjectMeta: meta(gen)}
			f(o.CommonStatus())
			return o
		}, true},
		{"Tenant", func(gen int64, f func(platformv1.CommonStatus)) Object {
			o := &platformv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "x", Generation: gen}}
			f(o.CommonStatus())
			return o
		}, false},
	}
	notReady := &metav1.Condition{Type: platformv1.ConditionDatabaseReady, Reason: platformv1.ReasonSecretConflict, Message: "Secret x is someone else's"}
	failedBefore := func(attempts int32) func(platformv1.CommonStatus) {
		return func(st platformv1.CommonStatus) {
			if st.FailedAttempts != nil {
				*st.FailedAttempts = attempts
			}
			*st.Conditions = []metav1.Condition{{Type: platformv1.ConditionReady, Status: metav1.ConditionFalse, Reason: "x", ObservedGeneration: 2}}
		}
	}
	none := func(platformv1.CommonStatus) {}
	tests := []struct {
		name        string
		before      func(platformv1.CommonStatus)
		errs        []error
		waiting     bool
		notReady    *metav1.Condition
		wantPhase   platformv1.Phase
		wantPhaseNA platformv1.Phase // for a kind without attempts, when it differs
		wantStatus  status.Status
		wantAttempt int32
		wantErr     bool
		wantReason  string // of Reconciling or Stalled, whichever is True
	}{
		{name: "all ready is Running, Current", before: none, wantPhase: platformv1.PhaseRunning, wantStatus: status.CurrentStatus},
		{name: "rolling out is Provisioning, InProgress", before: none, notReady: &metav1.Condition{Type: platformv1.ConditionDeploymentReady, Reason: platformv1.ReasonRollingOut, Message: "1/2"},
			wantPhase: platformv1.PhaseProvisioning, wantStatus: status.InProgressStatus, wantReason: platformv1.ReasonRollingOut},
		{name: "no image is Pending, Stalled ImageMissing", before: none, waiting: true,
			notReady:  &metav1.Condition{Type: platformv1.ConditionDeploymentReady, Reason: platformv1.ReasonImageMissing, Message: "spec.imageRef is empty"},
			wantPhase: platformv1.PhasePending, wantStatus: status.FailedStatus, wantReason: platformv1.ReasonImageMissing},
		{name: "a first failure retries, InProgress", before: none, errs: []error{errors.New("conflict")}, notReady: notReady,
			wantPhase: platformv1.PhaseProvisioning, wantStatus: status.InProgressStatus, wantAttempt: 1, wantErr: true, wantReason: platformv1.ReasonRetrying},
		{name: "the third failure of a generation is Failed, Stalled with the failing reason", before: failedBefore(2), errs: []error{errors.New("conflict")}, notReady: notReady,
			wantPhase: platformv1.PhaseFailed, wantPhaseNA: platformv1.PhaseProvisioning, wantStatus: status.FailedStatus, wantAttempt: 3, wantErr: true, wantReason: platformv1.ReasonSecretConflict},
		{name: "a terminal failure is Failed at once", before: none, errs: []error{capability.Terminal(errors.New("deadline"))}, notReady: notReady,
			wantPhase: platformv1.PhaseFailed, wantStatus: status.FailedStatus, wantAttempt: 1, wantErr: true, wantReason: platformv1.ReasonSecretConflict},
		{name: "an outage never counts: Provisioning, Reconciling BackendUnavailable", before: failedBefore(2), errs: []error{refused},
			notReady:  &metav1.Condition{Type: platformv1.ConditionDatabaseReady, Reason: platformv1.ReasonDatabaseUnavailable, Message: "PostgreSQL: refused"},
			wantPhase: platformv1.PhaseProvisioning, wantStatus: status.InProgressStatus, wantAttempt: 2, wantErr: true, wantReason: platformv1.ReasonBackendUnavailable},
		{name: "an outage beside a failure of the owner's counts", before: failedBefore(2), errs: []error{refused, errors.New("conflict")}, notReady: notReady,
			wantPhase: platformv1.PhaseFailed, wantPhaseNA: platformv1.PhaseProvisioning, wantStatus: status.FailedStatus, wantAttempt: 3, wantErr: true, wantReason: platformv1.ReasonSecretConflict},
	}
	for _, k := range kinds {
		for _, tt := range tests {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				obj := k.new(2, tt.before)
				kt := &Kit[Object]{Name: "test", Recorder: capabilitytest.NewEnv(t).Recorder}
				r := Begin(obj)
				for _, err := range tt.errs {
					kt.Record(r, "database", nil, err)
				}
				r.Waiting = tt.waiting
				res, err := kt.Finish(r, Verdict{NotReady: tt.notReady, Ready: "ok", Resync: time.Hour, Settle: time.Minute})
				st := obj.CommonStatus()
				want := tt.wantPhase
				if !k.attempts && tt.wantPhaseNA != "" {
					want = tt.wantPhaseNA
				}
				if *st.Phase != want {
					t.Errorf("phase %s, want %s", *st.Phase, want)
				}
				if k.attempts && *st.FailedAttempts != tt.wantAttempt {
					t.Errorf("failedAttempts %d, want %d", *st.FailedAttempts, tt.wantAttempt)
				}
				if *st.ObservedGeneration != 2 {
					t.Errorf("observedGeneration %d, want 2 on every write", *st.ObservedGeneration)
				}
				if (err != nil) != tt.wantErr || (err != nil && res.RequeueAfter != 0) {
					t.Errorf("err %v, RequeueAfter %s: failures go to the rate limiter", err, res.RequeueAfter)
				}
				wantStatus := tt.wantStatus
				if want == platformv1.PhaseProvisioning {
					wantStatus = status.InProgressStatus
				}
				if got := kstatusOf(t, obj); got != wantStatus {
					t.Errorf("kstatus %s, want %s; conditions %+v", got, wantStatus, *st.Conditions)
				}
				rec, stalled := capability.Condition(obj, platformv1.ConditionReconciling), capability.Condition(obj, platformv1.ConditionStalled)
				if rec != nil && stalled != nil {
					t.Errorf("both Reconciling and Stalled: %+v %+v", rec, stalled)
				}
				var reason string
				for _, c := range []*metav1.Condition{rec, stalled} {
					if c != nil && c.Status == metav1.ConditionTrue {
						reason = c.Reason
					}
				}
				if tt.wantReason != "" && want == tt.wantPhase && reason != tt.wantReason {
					t.Errorf("Reconciling/Stalled reason %q, want %q", reason, tt.wantReason)
				}
				if tt.wantReason == "" && reason != "" {
					t.Errorf("Running with Reconciling/Stalled %q", reason)
				}
			})
		}
	}
}

// Failing the same way again changes nothing, so nothing is written; the
// phase Event is the same for every kind and emitted once per change.
func TestAFailureRepeatedWritesNothing(t *testing.T) {
	pe := &platformv1.PreviewEnvironment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Generation: 1}}
	k, env := newKit(t, func() *platformv1.PreviewEnvironment { return &platformv1.PreviewEnvironment{} }, pe)
	ctx := context.Background()
	nr := &metav1.Condition{Type: platformv1.ConditionNamespaceReady, Reason: platformv1.ReasonNamespaceConflict, Message: "not ours"}
	var writes []int64
	for range 5 {
		got := &platformv1.PreviewEnvironment{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pe), got); err != nil {
			t.Fatal(err)
		}
		r := Begin(got)
		r.Fail(errors.New("namespace belongs to someone else"))
		_, _ = k.Finish(r, Verdict{NotReady: nr})
		if err := k.Patch(ctx, r); err != nil {
			t.Fatal(err)
		}
		writes = append(writes, env.Writes())
	}
	// attempts 1, 2, 3 (Failed), then nothing new.
	if !slices.Equal(writes, []int64{1, 2, 3, 3, 3}) {
		t.Errorf("writes after each reconcile %v, want [1 2 3 3 3]", writes)
	}
	events := strings.Join(env.Events(), "\n")
	if strings.Count(events, platformv1.EventPhaseChanged) != 1 || !strings.Contains(events, "Provisioning -> Failed") {
		t.Errorf("events %q, want one PhaseChanged Provisioning -> Failed", events)
	}
}

// The finalizers a reconcile needs go in one write, and the status being
// built survives it; a second pass writes nothing.
func TestEnsureMetadataWritesOnce(t *testing.T) {
	app := capabilitytest.App("shop", "web")
	k, env := newKit(t, func() *platformv1.Application { return &platformv1.Application{} }, app)
	ctx := context.Background()
	got := &platformv1.Application{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
		t.Fatal(err)
	}
	got.Finalizers = []string{platformv1.FinalizerLegacyCleanup}
	if err := env.Client.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	before := env.Writes()
	r := Begin(got)
	got.Status.Phase = platformv1.PhaseProvisioning
	add := AddFinalizers[*platformv1.Application]([]string{platformv1.FinalizerDatabase, platformv1.FinalizerStorage}, platformv1.FinalizerLegacyCleanup)
	for range 2 {
		if err := k.EnsureMetadata(ctx, r, add); err != nil {
			t.Fatal(err)
		}
	}
	if n := env.Writes() - before; n != 1 {
		t.Errorf("%d writes for the finalizers, want 1", n)
	}
	if !slices.Equal(got.Finalizers, []string{platformv1.FinalizerDatabase, platformv1.FinalizerStorage}) || got.Status.Phase != platformv1.PhaseProvisioning {
		t.Errorf("finalizers %v, phase %q", got.Finalizers, got.Status.Phase)
	}
	if !slices.Equal(r.Before.Finalizers, got.Finalizers) {
		t.Errorf("Before's metadata did not follow: %v", r.Before.Finalizers)
	}
}

// Cleanup: the steps done go in one finalizer write; a failing step stops
// it, says which backend in Ready and registers the object with the
// backend watch, which brings it back when the backend answers; the
// abandon annotation skips the backends, never the Kubernetes steps.
func TestCleanup(t *testing.T) {
	ctx := context.Background()
	deleting := func(annotations map[string]string) *platformv1.PreviewEnvironment {
		now := metav1.Now()
		return &platformv1.PreviewEnvironment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Generation: 1, DeletionTimestamp: &now,
			Annotations: annotations,
			Finalizers:  []string{platformv1.FinalizerDatabase, platformv1.FinalizerStorage, platformv1.FinalizerNamespace}}}
	}
	var ran []string
	var dbUp atomic.Bool
	steps := func() []Step {
		return []Step{
			{Finalizer: platformv1.FinalizerDatabase, What: "the database", Backend: "PostgreSQL", Wake: capability.BackendDatabase, Configured: true,
				Run: func(context.Context) error {
					ran = append(ran, "database")
					if !dbUp.Load() {
						return refused
					}
					return nil
				}},
			{Finalizer: platformv1.FinalizerStorage, What: "the buckets", Backend: "S3", Wake: capability.BackendObjectStore, Configured: true,
				Run: func(context.Context) error { ran = append(ran, "storage"); return nil }},
			{Finalizer: platformv1.FinalizerNamespace, What: "the namespace", Configured: true, Always: true,
				Run: func(context.Context) error { ran = append(ran, "namespace"); return nil }},
		}
	}
	get := func(env *capabilitytest.Env) (*platformv1.PreviewEnvironment, error) {
		pe := &platformv1.PreviewEnvironment{}
		return pe, env.Client.Get(ctx, types.NamespacedName{Namespace: "ns", Name: "p"}, pe)
	}

	t.Run("a failing step names its backend and is woken when it answers", func(t *testing.T) {
		k, env := newKit(t, func() *platformv1.PreviewEnvironment { return &platformv1.PreviewEnvironment{} }, deleting(nil))
		woken := make(chan event.TypedGenericEvent[*platformv1.PreviewEnvironment], 1)
		k.backends = wake.NewBackends(10*time.Millisecond, map[string]func(context.Context) error{
			capability.BackendDatabase: func(context.Context) error {
				if dbUp.Load() {
					return nil
				}
				return refused
			},
		}, woken, k.Key)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { _ = k.backends.Start(wctx) }()

		ran = nil
		pe, _ := get(env)
		before := env.Writes()
		if _, err := k.Cleanup(ctx, Begin(pe), "preview", "Delete", steps()); err == nil || !strings.Contains(err.Error(), "PostgreSQL") {
			t.Fatalf("err %v, want it to name PostgreSQL", err)
		}
		pe, _ = get(env)
		ready := capability.Condition(pe, platformv1.ConditionReady)
		if ready == nil || ready.Reason != platformv1.ReasonCleanupFailed || !strings.Contains(ready.Message, "annotate the preview") {
			t.Errorf("Ready %+v", ready)
		}
		if pe.Status.Phase != platformv1.PhaseTerminating || kstatusOf(t, pe) != status.TerminatingStatus {
			t.Errorf("phase %s", pe.Status.Phase)
		}
		if n := env.Writes() - before; n != 1 {
			t.Errorf("%d writes on a failed first step, want 1 (the status)", n)
		}
		select {
		case <-woken:
			t.Fatal("woken while the backend is down")
		case <-time.After(50 * time.Millisecond):
		}
		dbUp.Store(true)
		select {
		case e := <-woken:
			if e.Object.Name != "p" || e.Object.Namespace != "ns" {
				t.Errorf("woke %s/%s", e.Object.Namespace, e.Object.Name)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("not woken after the backend answered")
		}
		before = env.Writes()
		pe, _ = get(env)
		if _, err := k.Cleanup(ctx, Begin(pe), "preview", "Delete", steps()); err != nil {
			t.Fatal(err)
		}
		if n := env.Writes() - before; n != 1 {
			t.Errorf("%d writes for three finished steps, want 1", n)
		}
		if _, err := get(env); err == nil {
			t.Error("the preview is still there with every step done")
		}
		if fmt.Sprint(ran) != "[database database storage namespace]" {
			t.Errorf("steps ran %v", ran)
		}
	})

	t.Run("abandoned: the backends are left, the namespace is not", func(t *testing.T) {
		dbUp.Store(false)
		k, env := newKit(t, func() *platformv1.PreviewEnvironment { return &platformv1.PreviewEnvironment{} },
			deleting(map[string]string{platformv1.AnnotationAbandonCleanup: "true"}))
		ran = nil
		pe, _ := get(env)
		if _, err := k.Cleanup(ctx, Begin(pe), "preview", "Delete", steps()); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(ran) != "[namespace]" {
			t.Errorf("steps ran %v, want only the namespace", ran)
		}
		if events := strings.Join(env.Events(), "\n"); !strings.Contains(events, platformv1.EventCleanupAbandoned) || !strings.Contains(events, "the database, the buckets") {
			t.Errorf("events %q", events)
		}
	})
}
