package preview

import (
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// conditions Ready is derived from, in order.
var conditions = []string{
	platformv1.ConditionNamespaceReady,
	platformv1.ConditionDatabaseReady, platformv1.ConditionStorageReady, platformv1.ConditionAuthReady,
	platformv1.ConditionDeploymentReady, platformv1.ConditionIngressReady,
}

// settleInterval re-checks a preview waiting on something not watched.
const settleInterval = 15 * time.Second

// finish derives Ready, the phase and the URL from the conditions. A
// failure goes back to controller-runtime as an error (exponential backoff
// per preview); a failure retrying cannot mend is Failed at once. The
// status is written only when it changed, so a retry that fails the same
// way writes nothing.
func (r *Reconciler) finish(s *scope) (ctrl.Result, error) {
	pe := s.pe
	pe.Status.URL = ""
	if s.workloadUp {
		pe.Status.URL = "https://" + s.names.Host(r.Config.BaseDomain)
	}
	// Without a parent (or a valid ttl) Ready was set where that was found.
	var notReady *metav1.Condition
	if s.parent != nil {
		notReady = firstNotReady(pe)
		if notReady == nil {
			setCondition(pe, platformv1.ConditionReady, metav1.ConditionTrue, platformv1.ReasonAllReady, "the preview runs at "+pe.Status.URL)
		} else {
			setCondition(pe, platformv1.ConditionReady, metav1.ConditionFalse, notReady.Reason, fmt.Sprintf("%s: %s", notReady.Type, notReady.Message))
		}
	}

	var result ctrl.Result
	var err error
	switch {
	case len(s.errs) > 0:
		pe.Status.Phase = platformv1.PhaseProvisioning
		if s.terminal {
			pe.Status.Phase = platformv1.PhaseFailed
		}
		err = errors.Join(s.errs...)
	case s.waiting:
		pe.Status.Phase = platformv1.PhasePending
	case s.parent != nil && notReady == nil:
		pe.Status.Phase = platformv1.PhaseRunning
	default:
		pe.Status.Phase = platformv1.PhaseProvisioning
		// Watches wake the preview when its Deployment changes; this is a
		// safety net.
		result.RequeueAfter = settleInterval
	}
	if len(s.errs) == 0 {
		pe.Status.ObservedGeneration = pe.Generation
	}
	if from, to := s.before.Status.Phase, pe.Status.Phase; from != to && from != "" {
		kind := corev1.EventTypeNormal
		if to == platformv1.PhaseFailed {
			kind = corev1.EventTypeWarning
		}
		msg := meta.FindStatusCondition(pe.Status.Conditions, platformv1.ConditionReady).Message
		r.Recorder.Eventf(pe, nil, kind, platformv1.EventPhaseChanged, "Reconcile", "phase %s -> %s: %s", from, to, msg)
	}
	return result, err
}

// firstNotReady is the first condition, in order, that is not True.
func firstNotReady(pe *platformv1.PreviewEnvironment) *metav1.Condition {
	types := conditions
	if copyRequested(pe) {
		types = slices.Insert(slices.Clone(conditions), 2, platformv1.ConditionDataCopied) // after DatabaseReady
	}
	for _, typ := range types {
		c := meta.FindStatusCondition(pe.Status.Conditions, typ)
		if c == nil {
			return &metav1.Condition{Type: typ, Reason: platformv1.ReasonNotReady, Message: "not reconciled yet"}
		}
		if c.Status != metav1.ConditionTrue {
			return c
		}
	}
	return nil
}
