package preview

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	capdatabase "github.com/plattr/plattr/internal/capability/database"
	"github.com/plattr/plattr/internal/naming"
)

// reconcileDelete removes everything of a preview — deleted by hand, by its
// parent's deletion, or by the TTL sweep: the schema and roles, the buckets
// and key, the OIDC client (each while its finalizer says it was asked
// for), then the namespace with every object in it. A preview's data is
// never retained. A failing step is retried with backoff and Ready says
// which and why; platform.internal/abandon-cleanup=true gives up the
// external cleanup, as for an Application.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	pe := s.pe
	pe.Status.Phase = platformv1.PhaseTerminating
	abandon := pe.Annotations[platformv1.AnnotationAbandonCleanup] == "true"
	caps := r.capabilities()
	// The specs need only names; the parent may be gone already.
	parent := &platformv1.Application{}
	steps := []struct {
		finalizer, what string
		configured      bool
		cleanup         func() error
	}{
		{platformv1.FinalizerDatabase, "the database", r.DB != nil, func() error {
			return caps.Database.Remove(ctx, capdatabase.Spec{Names: s.names.Database(), Owner: backendOwner(s.names, pe)}, false)
		}},
		{platformv1.FinalizerStorage, "the buckets and keys", r.Store != nil, func() error {
			return caps.Storage.Remove(ctx, storageSpec(s.names, pe, parent, r.Config.BaseDomain), false)
		}},
		{platformv1.FinalizerAuth, "the OIDC client", r.Identity != nil, func() error {
			return caps.Auth.Remove(ctx, authSpec(s.names, pe, parent, r.Config.BaseDomain))
		}},
		{platformv1.FinalizerNamespace, "the namespace", true, func() error { return r.deleteNamespace(ctx, pe, s.names) }},
	}
	for _, step := range steps {
		if !controllerutil.ContainsFinalizer(pe, step.finalizer) {
			continue
		}
		var err error
		switch {
		case abandon && step.finalizer != platformv1.FinalizerNamespace:
		case !step.configured:
			err = fmt.Errorf("the preview had %s but the operator has no backend for it configured any more; configure it again, or annotate the preview %s=true to leave it behind",
				step.what, platformv1.AnnotationAbandonCleanup)
		default:
			if err = step.cleanup(); err != nil {
				err = fmt.Errorf("removing %s: %w; retrying with backoff — if the backend cannot come back, annotate the preview %s=true", step.what, err, platformv1.AnnotationAbandonCleanup)
			}
		}
		if err != nil {
			setCondition(pe, platformv1.ConditionReady, metav1.ConditionFalse, platformv1.ReasonCleanupFailed, err.Error())
			return ctrl.Result{}, errors.Join(err, r.patchStatus(ctx, s))
		}
		patch := client.MergeFromWithOptions(pe.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.RemoveFinalizer(pe, step.finalizer)
		if err := r.Patch(ctx, pe, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	return ctrl.Result{}, nil
}

// deleteNamespace deletes the preview's namespace if it is the preview's
// own; its objects go with it.
func (r *Reconciler) deleteNamespace(ctx context.Context, pe *platformv1.PreviewEnvironment, n naming.Preview) error {
	ns := &corev1.Namespace{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Name: n.Namespace()}, ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Annotations[platformv1.AnnotationPreviewOwner] != owner(pe) || !ns.DeletionTimestamp.IsZero() {
		return nil // not ours, or going already
	}
	return client.IgnoreNotFound(r.Delete(ctx, ns, client.Preconditions{UID: ptr.To(ns.UID)}))
}
