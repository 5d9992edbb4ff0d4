package application

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/metrics"
)

// setCondition records a condition for the current generation. The
// transition time moves only when the status does.
func setCondition(app *platformv1.Application, typ string, status metav1.ConditionStatus, reason, msg string) {
	capability.SetCondition(app, typ, status, reason, msg)
}

// capabilityConditions are the conditions Ready is derived from.
var capabilityConditions = []string{
	platformv1.ConditionDatabaseReady, platformv1.ConditionStorageReady, platformv1.ConditionAuthReady,
	platformv1.ConditionDeploymentReady, platformv1.ConditionIngressReady,
}

// finish derives Ready, the phase and the retry from the phases' outcome.
// Failures go back to controller-runtime as an error: its rate limiter
// spaces the retries (1 s, 2 s, 4 s … up to RETRY_MAX_BACKOFF) and
// controller_runtime_reconcile_errors_total counts them. The status of a
// failing app stops changing once it is Failed — failedAttempts stops at
// maxAttempts — so a retry that fails the same way writes nothing.
func (r *Reconciler) finish(ctx context.Context, s *scope) (ctrl.Result, error) {
	app := s.app
	if slices.ContainsFunc(s.errs, namespaceTerminating) {
		// The namespace is being deleted: the namespace controller removes
		// the children first and the app after, and the app's own deletion
		// brings the cleanup. Recreating children would be refused, so this
		// is no failure to report or retry.
		app.Status = *s.before.Status.DeepCopy()
		return ctrl.Result{}, nil
	}
	prevReady := meta.FindStatusCondition(s.before.Status.Conditions, platformv1.ConditionReady)

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
		notReady = &metav1.Condition{Type: "Addons", Reason: platformv1.ReasonNotSupported, Message: strings.Join(s.unsupported, "; ")}
	}

	var result ctrl.Result
	var err error
	switch {
	case len(s.errs) > 0:
		// Count failed attempts per generation: a spec change starts afresh.
		if prevReady == nil || prevReady.ObservedGeneration != app.Generation {
			app.Status.FailedAttempts = 0
		}
		app.Status.FailedAttempts = min(app.Status.FailedAttempts+1, maxAttempts)
		app.Status.Phase = platformv1.PhaseProvisioning
		if app.Status.FailedAttempts >= maxAttempts || s.terminal {
			app.Status.Phase = platformv1.PhaseFailed
		}
		err = errors.Join(s.errs...)
	case notReady == nil:
		app.Status.Phase = platformv1.PhaseRunning
		app.Status.FailedAttempts = 0
		result.RequeueAfter = r.resyncAfter()
	case s.waiting || len(s.unsupported) > 0:
		app.Status.Phase = platformv1.PhasePending
		app.Status.FailedAttempts = 0
		result.RequeueAfter = r.resyncAfter()
	default:
		app.Status.Phase = platformv1.PhaseProvisioning
		app.Status.FailedAttempts = 0
		// Watches wake us when the Deployment changes; this is a safety net
		// so an app can never stay Provisioning because nothing re-queued.
		result.RequeueAfter = settleInterval
	}

	if notReady == nil {
		setCondition(app, platformv1.ConditionReady, metav1.ConditionTrue, platformv1.ReasonAllReady, "every enabled capability and the workload are ready")
	} else {
		reason := notReady.Reason
		if reason == "" {
			reason = platformv1.ReasonNotReady
		}
		setCondition(app, platformv1.ConditionReady, metav1.ConditionFalse, reason, fmt.Sprintf("%s: %s", notReady.Type, notReady.Message))
	}
	if len(s.errs) == 0 {
		app.Status.ObservedGeneration = app.Generation
	}
	if s.workloadUp {
		app.Status.URL = "https://" + s.names.Host(r.Config.BaseDomain)
	} else {
		app.Status.URL = ""
	}

	r.recordTransition(s, prevReady)
	metrics.SetPhase(app.Namespace, app.Name, string(app.Status.Phase))
	outcome := "success"
	if len(s.errs) > 0 {
		outcome = "failure"
	}
	metrics.CountReconcile(app.Namespace, app.Name, outcome)
	return result, err
}

// namespaceTerminating: the API server refused a write because the app's
// namespace is being deleted.
func namespaceTerminating(err error) bool {
	return apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// recordTransition emits an Event when the phase changes and observes the
// time to Running.
func (r *Reconciler) recordTransition(s *scope, prevReady *metav1.Condition) {
	from, to := s.before.Status.Phase, s.app.Status.Phase
	// A new app's first phase is no news (and an Event is a write, for
	// every app of a burst); every later change is.
	if from == to || (from == "" && to != platformv1.PhaseFailed && to != platformv1.PhaseRunning) {
		return
	}
	kind := corev1.EventTypeNormal
	if to == platformv1.PhaseFailed {
		kind = corev1.EventTypeWarning
	}
	ready := meta.FindStatusCondition(s.app.Status.Conditions, platformv1.ConditionReady)
	r.Recorder.Eventf(s.app, nil, kind, platformv1.EventPhaseChanged, "Reconcile", "phase %s -> %s: %s", orNone(from), to, ready.Message)
	if to == platformv1.PhaseRunning {
		start := s.app.CreationTimestamp.Time
		if prevReady != nil && prevReady.Status != metav1.ConditionTrue && s.before.Status.ObservedGeneration != 0 {
			start = prevReady.LastTransitionTime.Time
		}
		metrics.ProvisioningDuration.Observe(r.now().Sub(start).Seconds())
	}
}

func orNone(p platformv1.Phase) string {
	if p == "" {
		return "(none)"
	}
	return string(p)
}
