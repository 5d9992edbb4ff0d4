package kit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/controller/status"
	"github.com/plattr/plattr/internal/metrics"
)

// FirstNotReady is the first of the conditions types, in order, that is not
// True — one not set yet counts as not reconciled — or nil when all are.
func FirstNotReady(obj capability.Owner, types ...string) *metav1.Condition {
	for _, typ := range types {
		c := capability.Condition(obj, typ)
		if c == nil {
			return &metav1.Condition{Type: typ, Reason: platformv1.ReasonNotReady, Message: "not reconciled yet"}
		}
		if c.Status != metav1.ConditionTrue {
			return c
		}
	}
	return nil
}

// Verdict is what a kind's own steps say, from which Finish derives the
// status.
type Verdict struct {
	// NotReady is the first condition that is not True (FirstNotReady), nil
	// when every one is; Ready follows from it.
	NotReady *metav1.Condition
	// Ready is Ready's message when NotReady is nil.
	Ready string
	// KeepReady: Ready was set where the failure was found; leave it.
	KeepReady bool
	// Resync is when a Running or Pending object is looked at again (0:
	// only when something it watches changes).
	Resync time.Duration
	// Settle is when an object Provisioning without a failure is looked at
	// again: a safety net for what no watch reports.
	Settle time.Duration
}

// Finish derives, from the run and the verdict, Ready, the phase,
// failedAttempts, Reconciling and Stalled and observedGeneration, emits the
// phase-change Event, and returns what controller-runtime does next.
//
// Failures go back to controller-runtime as an error: its rate limiter
// spaces the retries (1 s, 2 s, 4 s … up to RETRY_MAX_BACKOFF). A platform
// backend's outage keeps the object Provisioning with Reconciling=True
// (BackendUnavailable) and never counts as a failed attempt: the backend
// watch brings it back when the backend answers. Any other failure counts;
// MaxFailedAttempts of one generation, or one terminal failure, make it
// Failed with Stalled=True. Once Failed, a retry that fails the same way
// changes nothing, so it writes nothing.
func (k *Kit[T]) Finish(r *Run[T], v Verdict) (ctrl.Result, error) {
	obj, st := r.Obj, r.Obj.CommonStatus()
	gen := obj.GetGeneration()
	if !v.KeepReady {
		if v.NotReady == nil {
			capability.SetCondition(obj, platformv1.ConditionReady, metav1.ConditionTrue, platformv1.ReasonAllReady, v.Ready)
		} else {
			reason := v.NotReady.Reason
			if reason == "" {
				reason = platformv1.ReasonNotReady
			}
			capability.SetCondition(obj, platformv1.ConditionReady, metav1.ConditionFalse, reason, fmt.Sprintf("%s: %s", v.NotReady.Type, v.NotReady.Message))
		}
	}
	ready := capability.Condition(obj, platformv1.ConditionReady)
	if ready == nil {
		ready = &metav1.Condition{Reason: platformv1.ReasonNotReady, Message: "not reconciled yet"}
	}
	attempts := st.FailedAttempts
	// Attempts count per generation: a spec change starts afresh. Ready
	// records the generation the last reconcile saw.
	if prev := capability.Condition(r.Before, platformv1.ConditionReady); attempts != nil && (prev == nil || prev.ObservedGeneration != gen) {
		*attempts = 0
	}
	setAttempts := func(n int32) {
		if attempts != nil {
			*attempts = n
		}
	}

	var result ctrl.Result
	var err error
	switch {
	case r.outage():
		*st.Phase = platformv1.PhaseProvisioning
		Progressing(obj, platformv1.ReasonBackendUnavailable,
			fmt.Sprintf("waiting for %s to answer again (retried the moment it does): %s", strings.Join(slices.Compact(r.outages), ", "), ready.Message))
		err = errors.Join(r.Errs...)
	case len(r.Errs) > 0:
		if attempts != nil {
			*attempts = min(*attempts+1, platformv1.MaxFailedAttempts)
		}
		*st.Phase = platformv1.PhaseProvisioning
		if r.Terminal || (attempts != nil && *attempts >= platformv1.MaxFailedAttempts) {
			*st.Phase = platformv1.PhaseFailed
			Stuck(obj, ready.Reason, ready.Message)
		} else {
			Progressing(obj, platformv1.ReasonRetrying, ready.Message)
		}
		err = errors.Join(r.Errs...)
	case r.Waiting:
		*st.Phase = platformv1.PhasePending
		setAttempts(0)
		Stuck(obj, ready.Reason, ready.Message)
		result.RequeueAfter = v.Resync
	case v.NotReady == nil:
		*st.Phase = platformv1.PhaseRunning
		setAttempts(0)
		Settled(obj)
		result.RequeueAfter = v.Resync
	default:
		*st.Phase = platformv1.PhaseProvisioning
		setAttempts(0)
		Progressing(obj, ready.Reason, ready.Message)
		result.RequeueAfter = v.Settle
	}
	*st.ObservedGeneration = gen
	k.phaseEvent(r, ready.Message)
	return result, err
}

// Progressing records that work is in flight: Reconciling=True, no Stalled.
func Progressing(obj capability.Owner, reason, msg string) {
	meta.RemoveStatusCondition(obj.StatusConditions(), platformv1.ConditionStalled)
	capability.SetCondition(obj, platformv1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
}

// Stuck records that the object cannot progress without a change by its
// owner: Stalled=True with the failing reason, no Reconciling.
func Stuck(obj capability.Owner, reason, msg string) {
	meta.RemoveStatusCondition(obj.StatusConditions(), platformv1.ConditionReconciling)
	capability.SetCondition(obj, platformv1.ConditionStalled, metav1.ConditionTrue, reason, msg)
}

// Settled records that nothing is in flight: neither Reconciling nor Stalled.
func Settled(obj capability.Owner) {
	meta.RemoveStatusCondition(obj.StatusConditions(), platformv1.ConditionReconciling)
	meta.RemoveStatusCondition(obj.StatusConditions(), platformv1.ConditionStalled)
}

// Terminating records that the object is being deleted: phase Terminating,
// Reconciling=True; Ready says what the cleanup waits for, if anything.
func Terminating[T Object](r *Run[T], msg string) {
	obj, st := r.Obj, r.Obj.CommonStatus()
	*st.Phase = platformv1.PhaseTerminating
	*st.ObservedGeneration = obj.GetGeneration()
	Progressing(obj, platformv1.ReasonTerminating, msg)
}

// phaseEvent emits an Event when the phase changes. A new object's first
// phase is no news (and an Event is a write, for every object of a burst),
// unless it is Running or Failed; every later change is.
func (k *Kit[T]) phaseEvent(r *Run[T], msg string) {
	from, to := *r.Before.CommonStatus().Phase, *r.Obj.CommonStatus().Phase
	if from == to || (from == "" && to != platformv1.PhaseFailed && to != platformv1.PhaseRunning) {
		return
	}
	kind := corev1.EventTypeNormal
	if to == platformv1.PhaseFailed {
		kind = corev1.EventTypeWarning
	}
	name := string(from)
	if name == "" {
		name = "(none)"
	}
	k.Recorder.Eventf(r.Obj, nil, kind, platformv1.EventPhaseChanged, "Reconcile", "phase %s -> %s: %s", name, to, msg)
}

// Patch writes the run's status if, and only if, it changed.
func (k *Kit[T]) Patch(ctx context.Context, r *Run[T]) error {
	defer k.Time("status")()
	read := r.Obj.GetResourceVersion()
	wrote, err := status.Patch(ctx, k.Client, r.Before, r.Obj)
	if wrote {
		metrics.StatusWrites.WithLabelValues(k.Name).Inc()
		if err == nil {
			k.remember(read, r.Obj)
		}
	}
	return err
}
