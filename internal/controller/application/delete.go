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

// reconcileDelete cleans up what garbage collection cannot: the database,
// the buckets and the OIDC client.
// Kubernetes children go with the Application through their owner
// references. The finalizer is removed only once cleanup succeeded.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	app := s.app
	if !controllerutil.ContainsFinalizer(app, Finalizer) {
		return ctrl.Result{}, nil
	}
	app.Status.Phase = platformv1.PhaseTerminating
	policy := app.Spec.DeletionPolicy()
	steps := []struct {
		what    string
		had     bool
		cleanup func() error
	}{
		{"database", hadDatabase(app), func() error {
			return r.DB.Remove(ctx, naming.DatabaseFor(app), database.Owner{Namespace: app.Namespace, Name: app.Name}, policy == platformv1.DeletionPolicyRetain)
		}},
		{"buckets", hadStorage(app) && r.Store != nil, func() error { return r.removeStorage(ctx, s, policy) }},
		{"OIDC client", hadAuth(app) && r.Identity != nil, func() error {
			return r.Identity.Remove(ctx, authClient(app, naming.Host(app, r.Config.BaseDomain), "", nil))
		}},
	}
	for _, step := range steps {
		if !step.had {
			continue
		}
		if err := step.cleanup(); err != nil {
			app.Status.FailedAttempts++
			msg := fmt.Sprintf("cleaning up the %s (policy %s): %v; retrying", step.what, policy, err)
			setCondition(app, ConditionReady, metav1.ConditionFalse, ReasonDeleting, msg)
			r.Recorder.Eventf(app, nil, corev1.EventTypeWarning, EventCleanupFailed, "Delete", "%s", msg)
			if perr := r.patchStatus(ctx, s); perr != nil {
				return ctrl.Result{}, perr
			}
			return ctrl.Result{RequeueAfter: backoff(app.Status.FailedAttempts)}, nil
		}
		r.Recorder.Eventf(app, nil, corev1.EventTypeNormal, EventCleanedUp, "Delete", "%s cleaned up with policy %s", step.what, policy)
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

// removeStorage applies the deletion policy to the app's buckets: Delete
// empties (every page, every version) and removes them; Retain keeps them
// and their data and hands them to the platform's account. The app's keys
// are revoked either way.
func (r *Reconciler) removeStorage(ctx context.Context, s *scope, policy platformv1.DeletionPolicy) error {
	owner := s.app.Namespace + "/" + s.app.Name
	buckets, err := r.Store.Owned(ctx, naming.BucketsPrefix(s.app), owner)
	if err != nil {
		return err
	}
	for _, b := range buckets {
		if policy == platformv1.DeletionPolicyRetain {
			if err := r.Store.Release(ctx, b); err != nil {
				return err
			}
			continue
		}
		if _, err := r.Store.RemoveBucket(ctx, b); err != nil {
			return err
		}
	}
	if r.Store.PerAppUsers() {
		return r.Store.RemoveUser(ctx, naming.StorageUser(s.app))
	}
	return nil
}
