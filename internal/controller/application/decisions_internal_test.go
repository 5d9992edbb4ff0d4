package application

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/event"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/controller/predicates"
	"github.com/plattr/plattr/internal/metrics"
)

// The phase and retry decisions of finish, table-driven: the rules that
// keep a failing app from rewriting its status on every retry.
func TestFinishDecidesPhaseRetryAndAttempts(t *testing.T) {
	ready := func(gen int64) []metav1.Condition {
		var cs []metav1.Condition
		for _, typ := range capabilityConditions {
			cs = append(cs, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: "x", ObservedGeneration: gen})
		}
		return cs
	}
	tests := []struct {
		name        string
		generation  int64
		before      platformv1.ApplicationStatus
		failed      bool
		terminal    bool
		outage      bool
		wantPhase   platformv1.Phase
		wantAttempt int32
		wantErr     bool
		wantResync  bool
	}{
		{name: "first failure", generation: 1, failed: true, wantPhase: platformv1.PhaseProvisioning, wantAttempt: 1, wantErr: true},
		{name: "third failure of a generation is Failed", generation: 1, failed: true,
			before:    platformv1.ApplicationStatus{FailedAttempts: 2, Conditions: []metav1.Condition{{Type: platformv1.ConditionReady, Status: "False", Reason: "x", ObservedGeneration: 1}}},
			wantPhase: platformv1.PhaseFailed, wantAttempt: 3, wantErr: true},
		{name: "attempts stop at three, so a Failed app's status stays put", generation: 1, failed: true,
			before:    platformv1.ApplicationStatus{Phase: platformv1.PhaseFailed, FailedAttempts: 3, Conditions: []metav1.Condition{{Type: platformv1.ConditionReady, Status: "False", Reason: "x", ObservedGeneration: 1}}},
			wantPhase: platformv1.PhaseFailed, wantAttempt: 3, wantErr: true},
		{name: "a new generation counts afresh", generation: 2, failed: true,
			before:    platformv1.ApplicationStatus{Phase: platformv1.PhaseFailed, FailedAttempts: 3, Conditions: []metav1.Condition{{Type: platformv1.ConditionReady, Status: "False", Reason: "x", ObservedGeneration: 1}}},
			wantPhase: platformv1.PhaseProvisioning, wantAttempt: 1, wantErr: true},
		{name: "a terminal failure is Failed at once", generation: 1, failed: true, terminal: true,
			wantPhase: platformv1.PhaseFailed, wantAttempt: 1, wantErr: true},
		{name: "an outage does not count, and keeps the app Provisioning", generation: 1, failed: true, outage: true,
			before:    platformv1.ApplicationStatus{FailedAttempts: 2, Conditions: []metav1.Condition{{Type: platformv1.ConditionReady, Status: "False", Reason: "x", ObservedGeneration: 1}}},
			wantPhase: platformv1.PhaseProvisioning, wantAttempt: 2, wantErr: true},
		{name: "an outage after a Failed attempt count of a generation is not Failed", generation: 1, failed: true, outage: true,
			before:    platformv1.ApplicationStatus{Phase: platformv1.PhaseFailed, FailedAttempts: 3, Conditions: []metav1.Condition{{Type: platformv1.ConditionReady, Status: "False", Reason: "x", ObservedGeneration: 1}}},
			wantPhase: platformv1.PhaseProvisioning, wantAttempt: 3, wantErr: true},
		{name: "all ready is Running with a resync", generation: 1,
			before:    platformv1.ApplicationStatus{Conditions: ready(1)},
			wantPhase: platformv1.PhaseRunning, wantResync: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Reconciler{Deps: kit.Deps{Config: config.Operator{ResyncInterval: time.Hour}, Recorder: events.NewFakeRecorder(10)}}
			r.kit = r.newKit()
			app := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", Generation: tt.generation}, Status: tt.before}
			s := &scope{Run: kit.Begin(app), app: app}
			if tt.failed {
				err := errors.New("invalid value")
				switch {
				case tt.terminal:
					err = capability.Terminal(err)
				case tt.outage:
					err = capability.Unavailable(capability.BackendDatabase, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED})
				}
				s.Fail(err)
				meta.SetStatusCondition(&app.Status.Conditions, metav1.Condition{Type: platformv1.ConditionDatabaseReady, Status: "False", Reason: "x"})
			}
			res, err := r.finish(s)
			if app.Status.Phase != tt.wantPhase || app.Status.FailedAttempts != tt.wantAttempt {
				t.Errorf("phase %s attempts %d, want %s %d", app.Status.Phase, app.Status.FailedAttempts, tt.wantPhase, tt.wantAttempt)
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want an error: %v (failures go to controller-runtime's backoff)", err, tt.wantErr)
			}
			if err != nil && res.RequeueAfter != 0 {
				t.Errorf("RequeueAfter %s beside an error: the rate limiter decides the retry", res.RequeueAfter)
			}
			if tt.wantResync != (res.RequeueAfter > 30*time.Minute) {
				t.Errorf("RequeueAfter %s", res.RequeueAfter)
			}
		})
	}
}

func TestPredicatesDropStatusOnlyUpdates(t *testing.T) {
	app := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "a", Generation: 1, ResourceVersion: "1"}}
	statusOnly := app.DeepCopy()
	statusOnly.ResourceVersion, statusOnly.Status.Phase = "2", platformv1.PhaseFailed
	specChange := app.DeepCopy()
	specChange.Generation = 2
	annotated := app.DeepCopy()
	annotated.Annotations = map[string]string{platformv1.AnnotationAbandonCleanup: "true"}
	deleting := app.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	for name, tt := range map[string]struct {
		new  *platformv1.Application
		want bool
	}{
		"status only": {statusOnly, false}, "spec": {specChange, true}, "annotation": {annotated, true}, "deletion": {deleting, true},
	} {
		if got := predicates.SpecChanged.Update(event.UpdateEvent{ObjectOld: app, ObjectNew: tt.new}); got != tt.want {
			t.Errorf("app %s: reconcile = %v, want %v", name, got, tt.want)
		}
	}

	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "a", ResourceVersion: "1"}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 20}}
	hpaStatus := hpa.DeepCopy()
	hpaStatus.ResourceVersion, hpaStatus.Status.DesiredReplicas = "2", 4
	hpaSpec := hpa.DeepCopy()
	hpaSpec.ResourceVersion, hpaSpec.Spec.MaxReplicas = "3", 5
	if predicates.ChildChanged.Update(event.UpdateEvent{ObjectOld: hpa, ObjectNew: hpaStatus}) {
		t.Error("an HPA status update reconciles the app")
	}
	if !predicates.ChildChanged.Update(event.UpdateEvent{ObjectOld: hpa, ObjectNew: hpaSpec}) {
		t.Error("an HPA edited by hand does not reconcile the app")
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "a", ResourceVersion: "1"}}
	dStatus := d.DeepCopy()
	dStatus.ResourceVersion, dStatus.Status.ReadyReplicas = "2", 1
	predicates.ChildChanged.Update(event.UpdateEvent{ObjectOld: d, ObjectNew: dStatus})
	if dStatus.Status.ReadyReplicas != 1 || dStatus.ResourceVersion != "2" {
		t.Error("the predicate changed the object it was given (it must compare copies)")
	}
}

// The time to Running is measured on the injected clock: from creation for
// a new app.
func TestTimeToRunningUsesTheClock(t *testing.T) {
	created := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	r := &Reconciler{Deps: kit.Deps{Recorder: events.NewFakeRecorder(10), Clock: clocktesting.NewFakePassiveClock(created.Add(90 * time.Second))}}
	app := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", Generation: 1, CreationTimestamp: metav1.NewTime(created)}}
	before := app.DeepCopy()
	app.Status.Phase = platformv1.PhaseRunning
	capability.SetCondition(app, platformv1.ConditionReady, metav1.ConditionTrue, platformv1.ReasonAllReady, "ok")
	sum := func() float64 {
		m := &dto.Metric{}
		if err := metrics.ProvisioningDuration.Write(m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleSum()
	}
	start := sum()
	r.kit = r.newKit()
	r.observeRunning(&scope{Run: &kit.Run[*platformv1.Application]{Obj: app, Before: before}, app: app}, nil)
	if got := sum() - start; got != 90 {
		t.Errorf("observed %v s to Running, want 90 (the fake clock's)", got)
	}
}
