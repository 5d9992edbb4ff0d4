package application

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/naming"
)

// setCondition records a condition for the current generation. The
// transition time moves only when the status does.
func setCondition(app *platformv1.Application, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&app.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: app.Generation,
	})
}

// capabilityConditions are the conditions Ready is derived from.
var capabilityConditions = []string{
	ConditionDatabaseReady, ConditionStorageReady, ConditionAuthReady,
	ConditionDeploymentReady, ConditionIngressReady,
}

// finish derives Ready, the phase and the retry from the phases' outcome.
func (r *Reconciler) finish(ctx context.Context, s *scope) ctrl.Result {
	app := s.app
	prevReady := meta.FindStatusCondition(s.before.Status.Conditions, ConditionReady)

	var notReady *metav1.Condition
	for _, typ := range capabilityConditions {
		c := meta.FindStatusCondition(app.Status.Conditions, typ)
		if c == nil || c.Status != metav1.ConditionTrue {
			if c == nil {
				c = &metav1.Condition{Type: typ, Message: "not reconciled yet"}
			}
			notReady = c
			break
		}
	}
	if len(s.unsupported) > 0 && notReady == nil {
		notReady = &metav1.Condition{Type: "Addons", Reason: ReasonNotSupported, Message: strings.Join(s.unsupported, "; ")}
	}

	var result ctrl.Result
	switch {
	case len(s.errs) > 0:
		// Count failed attempts per generation: a spec change starts afresh.
		if prevReady == nil || prevReady.ObservedGeneration != app.Generation {
			app.Status.FailedAttempts = 0
		}
		app.Status.FailedAttempts++
		app.Status.Phase = platformv1.PhaseProvisioning
		if app.Status.FailedAttempts >= maxAttempts {
			app.Status.Phase = platformv1.PhaseFailed
		}
		result.RequeueAfter = backoff(app.Status.FailedAttempts)
		logErrors(ctx, s)
	case notReady == nil:
		app.Status.Phase = platformv1.PhaseRunning
		app.Status.FailedAttempts = 0
		result.RequeueAfter = resyncInterval
	case s.waiting || len(s.unsupported) > 0:
		app.Status.Phase = platformv1.PhasePending
		app.Status.FailedAttempts = 0
		result.RequeueAfter = resyncInterval
	default:
		app.Status.Phase = platformv1.PhaseProvisioning
		app.Status.FailedAttempts = 0
		// Watches wake us when the Deployment changes; this is a safety net
		// so an app can never stay Provisioning because nothing re-queued.
		result.RequeueAfter = settleInterval
	}

	if notReady == nil {
		setCondition(app, ConditionReady, metav1.ConditionTrue, ReasonAllReady, "every enabled capability and the workload are ready")
	} else {
		reason := notReady.Reason
		if reason == "" {
			reason = ReasonNotReady
		}
		setCondition(app, ConditionReady, metav1.ConditionFalse, reason, fmt.Sprintf("%s: %s", notReady.Type, notReady.Message))
	}
	if len(s.errs) == 0 {
		app.Status.ObservedGeneration = app.Generation
	}
	if s.workloadUp {
		app.Status.URL = "https://" + naming.Host(app, r.Config.BaseDomain)
	} else {
		app.Status.URL = ""
	}

	r.recordTransition(s, prevReady)
	metrics.SetPhase(app.Namespace, app.Name, string(app.Status.Phase))
	outcome := "success"
	if len(s.errs) > 0 {
		outcome = "failure"
	}
	metrics.ReconcileTotal.WithLabelValues(app.Name, outcome).Inc()
	return result
}

// recordTransition emits an Event when the phase changes and observes the
// time to Running.
func (r *Reconciler) recordTransition(s *scope, prevReady *metav1.Condition) {
	from, to := s.before.Status.Phase, s.app.Status.Phase
	if from == to {
		return
	}
	kind := corev1.EventTypeNormal
	if to == platformv1.PhaseFailed {
		kind = corev1.EventTypeWarning
	}
	ready := meta.FindStatusCondition(s.app.Status.Conditions, ConditionReady)
	r.Recorder.Eventf(s.app, nil, kind, EventPhaseChanged, "Reconcile", "phase %s -> %s: %s", orNone(from), to, ready.Message)
	if to == platformv1.PhaseRunning {
		start := s.app.CreationTimestamp.Time
		if prevReady != nil && prevReady.Status != metav1.ConditionTrue && s.before.Status.ObservedGeneration != 0 {
			start = prevReady.LastTransitionTime.Time
		}
		metrics.ProvisioningDuration.Observe(time.Since(start).Seconds())
	}
}

func orNone(p platformv1.Phase) string {
	if p == "" {
		return "(none)"
	}
	return string(p)
}
