package application

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/metrics"
)

// capabilityConditions are the conditions Ready is derived from, in order.
var capabilityConditions = []string{
	platformv1.ConditionDatabaseReady, platformv1.ConditionStorageReady, platformv1.ConditionAuthReady,
	platformv1.ConditionMessagingReady, platformv1.ConditionDeploymentReady, platformv1.ConditionIngressReady, platformv1.ConditionApiReady,
}

// finish derives the status from the phases' outcome with the kit's rules
// (kit.Finish), plus what only an app has: its URL, add-ons it asked for
// that are not provided, and its metrics.
func (r *Reconciler) finish(s *scope) (ctrl.Result, error) {
	app := s.app
	if slices.ContainsFunc(s.Errs, namespaceTerminating) {
		// The namespace is being deleted: the namespace controller removes
		// the children first and the app after, and the app's own deletion
		// brings the cleanup. Recreating children would be refused, so this
		// is no failure to report or retry.
		app.Status = *s.Before.Status.DeepCopy()
		return ctrl.Result{}, nil
	}
	prevReady := meta.FindStatusCondition(s.Before.Status.Conditions, platformv1.ConditionReady)
	notReady := kit.FirstNotReady(app, capabilityConditions...)
	if len(s.unsupported) > 0 {
		if notReady == nil {
			notReady = &metav1.Condition{Type: "Addons", Reason: platformv1.ReasonNotSupported, Message: strings.Join(s.unsupported, "; ")}
		}
		s.Waiting = true
	}
	app.Status.URL = ""
	if s.WorkloadUp {
		app.Status.URL = "https://" + s.names.Host(r.Config.BaseDomain)
	}
	result, err := r.kit.Finish(s.Run, kit.Verdict{
		NotReady: notReady, Ready: "every enabled capability and the workload are ready",
		Resync: r.resyncAfter(), Settle: settleInterval,
	})
	r.observeRunning(s, prevReady)
	metrics.SetPhase(app.Namespace, app.Name, string(app.Status.Phase))
	outcome := "success"
	if len(s.Errs) > 0 {
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

// observeRunning observes the time to Running: from creation, or from
// when Ready last turned False for a spec change.
func (r *Reconciler) observeRunning(s *scope, prevReady *metav1.Condition) {
	if s.Before.Status.Phase == platformv1.PhaseRunning || s.app.Status.Phase != platformv1.PhaseRunning {
		return
	}
	start := s.app.CreationTimestamp.Time
	if prevReady != nil && prevReady.Status != metav1.ConditionTrue && s.Before.Status.ObservedGeneration != 0 {
		start = prevReady.LastTransitionTime.Time
	}
	metrics.ProvisioningDuration.Observe(r.kit.Now().Sub(start).Seconds())
}
