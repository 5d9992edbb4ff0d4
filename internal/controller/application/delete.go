package application

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/naming"
)

// reconcileDelete cleans up what garbage collection cannot: the database.
// Kubernetes children go with the Application through their owner
// references. The finalizer is removed only once cleanup succeeded.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	app := s.app
	if !controllerutil.ContainsFinalizer(app, Finalizer) {
		return ctrl.Result{}, nil
	}
	app.Status.Phase = platformv1.PhaseTerminating
	if hadDatabase(app) {
		policy := app.Spec.DeletionPolicy()
		err := r.DB.Remove(ctx, naming.DatabaseFor(app), database.Owner{Namespace: app.Namespace, Name: app.Name}, policy == platformv1.DeletionPolicyRetain)
		if err != nil {
			app.Status.FailedAttempts++
			msg := fmt.Sprintf("cleaning up the database (policy %s): %v; retrying", policy, err)
			setCondition(app, ConditionReady, metav1.ConditionFalse, ReasonDeleting, msg)
			r.Recorder.Eventf(app, nil, corev1.EventTypeWarning, EventCleanupFailed, "Delete", "%s", msg)
			if perr := r.patchStatus(ctx, s); perr != nil {
				return ctrl.Result{}, perr
			}
			return ctrl.Result{RequeueAfter: backoff(app.Status.FailedAttempts)}, nil
		}
		r.Recorder.Eventf(app, nil, corev1.EventTypeNormal, EventCleanedUp, "Delete", "database cleaned up with policy %s", policy)
	}
	patch := client.MergeFrom(app.DeepCopy())
	controllerutil.RemoveFinalizer(app, Finalizer)
	if err := r.Patch(ctx, app, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	metrics.ForgetApplication(app.Namespace, app.Name)
	return ctrl.Result{}, nil
}

// hadDatabase: the spec asks for one now, or one was provisioned before the
// spec stopped asking.
func hadDatabase(app *platformv1.Application) bool {
	if app.Spec.DatabaseEnabled() {
		return true
	}
	c := meta.FindStatusCondition(app.Status.Conditions, ConditionDatabaseReady)
	return c != nil && c.Reason == ReasonProvisioned
}
