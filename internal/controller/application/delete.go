package application

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/naming"
)

// cleanupStep is the external cleanup of one capability, guarded by its
// own finalizer. The finalizer is added before the capability first talks
// to its backend and stays while the app lives — also after the capability
// is switched off, because its data is kept until the app is deleted — so
// deletion cleans up exactly what was provisioned, whatever the spec and
// the conditions say by then.
type cleanupStep struct {
	finalizer string
	what      string // "the database", for messages
	backend   string // the service and the setting that locates it
	watch     string // the backendWatch name, to retry when it returns
	// configured: the operator can reach this capability's backend.
	configured func(*Reconciler) bool
	cleanup    func(ctx context.Context, r *Reconciler, c capabilities, n naming.Names, retain bool) error
}

var cleanupSteps = []cleanupStep{
	{
		finalizer: platformv1.FinalizerDatabase, what: "the database", backend: "PostgreSQL (DB_ADMIN_URL)", watch: capability.BackendDatabase,
		configured: func(r *Reconciler) bool { return r.DB != nil },
		cleanup: func(ctx context.Context, r *Reconciler, c capabilities, n naming.Names, retain bool) error {
			return c.Database.Remove(ctx, databaseSpec(n), retain)
		},
	},
	{
		finalizer: platformv1.FinalizerStorage, what: "the buckets and keys", backend: "the object store (S3_ENDPOINT)", watch: capability.BackendObjectStore,
		configured: func(r *Reconciler) bool { return r.Store != nil },
		cleanup: func(ctx context.Context, r *Reconciler, c capabilities, n naming.Names, retain bool) error {
			return c.Storage.Remove(ctx, storageSpec(n, r.Config.BaseDomain), retain)
		},
	},
	{
		finalizer: platformv1.FinalizerAuth, what: "the OIDC client", backend: "the identity provider (KEYCLOAK_URL or DEX_ISSUER_URL)", watch: capability.BackendIdentity,
		configured: func(r *Reconciler) bool { return r.Identity != nil },
		cleanup: func(ctx context.Context, r *Reconciler, c capabilities, n naming.Names, _ bool) error {
			return c.Auth.Remove(ctx, authSpec(n, r.Config.BaseDomain))
		},
	},
}

// ensureFinalizers adds, in one write, the finalizer of every capability
// the app asks for whose backend is configured — before the phases make
// their first external call, so a crash right after that call still leaves
// the cleanup recorded. It also replaces the single finalizer of earlier
// versions by the capability finalizers it stood for.
func (r *Reconciler) ensureFinalizers(ctx context.Context, app *platformv1.Application) error {
	want := slices.Clone(app.Finalizers)
	legacy := slices.Contains(want, platformv1.FinalizerLegacyCleanup)
	enabled := map[string]bool{
		platformv1.FinalizerDatabase: app.Spec.DatabaseEnabled() || (legacy && provisioned(app, platformv1.ConditionDatabaseReady)),
		platformv1.FinalizerStorage:  app.Spec.StorageEnabled() || (legacy && provisioned(app, platformv1.ConditionStorageReady)),
		platformv1.FinalizerAuth:     app.Spec.AuthEnabled() || (legacy && provisioned(app, platformv1.ConditionAuthReady)),
	}
	for _, step := range cleanupSteps {
		if enabled[step.finalizer] && step.configured(r) && !slices.Contains(want, step.finalizer) {
			want = append(want, step.finalizer)
		}
	}
	want = slices.DeleteFunc(want, func(f string) bool { return f == platformv1.FinalizerLegacyCleanup })
	if slices.Equal(want, app.Finalizers) {
		return nil
	}
	patch := client.MergeFromWithOptions(app.DeepCopy(), client.MergeFromWithOptimisticLock{})
	app.Finalizers = want
	if err := r.Patch(ctx, app, patch); err != nil {
		return fmt.Errorf("recording the capabilities to clean up (finalizers): %w", err)
	}
	return nil
}

// reconcileDelete cleans up what garbage collection cannot: the database,
// the buckets and keys, the OIDC client — each while its finalizer says it
// was provisioned. Kubernetes children go with the Application through
// their owner references. A cleanup that fails is retried with backoff and
// the Ready condition says which backend and why; the annotation
// platform.internal/abandon-cleanup=true lets the platform team give up
// the external cleanup of one app.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	app := s.app
	app.Status.Phase = platformv1.PhaseTerminating
	policy := app.Spec.DeletionPolicy()
	abandon := app.Annotations[platformv1.AnnotationAbandonCleanup] == "true"

	caps := r.capabilities()
	var left []string
	for _, step := range cleanupSteps {
		if !controllerutil.ContainsFinalizer(app, step.finalizer) {
			continue
		}
		var err error
		switch {
		case abandon:
			left = append(left, step.what)
		case !step.configured(r):
			err = fmt.Errorf("%w: the app had %s but the operator has no %s configured any more; configure it again, or annotate the app %s=true to leave them behind",
				errCleanupBlocked, step.what, step.backend, platformv1.AnnotationAbandonCleanup)
		default:
			if err = step.cleanup(ctx, r, caps, s.names, policy == platformv1.DeletionPolicyRetain); err != nil {
				r.backends.Failed(step.watch, app)
				err = fmt.Errorf("cleaning up %s (deletionPolicy %s) at %s: %w; retrying with backoff — if it cannot come back, annotate the app %s=true to leave them behind",
					step.what, policy, step.backend, err, platformv1.AnnotationAbandonCleanup)
			}
		}
		if err != nil {
			reason := platformv1.ReasonCleanupFailed
			if errors.Is(err, errCleanupBlocked) {
				reason = platformv1.ReasonCleanupBlocked
			}
			setCondition(app, platformv1.ConditionReady, metav1.ConditionFalse, reason, err.Error())
			if !sameCondition(s.before, app, platformv1.ConditionReady) {
				r.Recorder.Eventf(app, nil, corev1.EventTypeWarning, platformv1.EventCleanupFailed, "Delete", "%s", err.Error())
			}
			return ctrl.Result{}, errors.Join(err, r.patchStatus(ctx, s))
		}
		if !abandon {
			r.Recorder.Eventf(app, nil, corev1.EventTypeNormal, platformv1.EventCleanedUp, "Delete", "%s cleaned up with policy %s", step.what, policy)
		}
		// Record the progress, so a restart does not redo a finished step.
		if err := r.removeFinalizers(ctx, app, step.finalizer); err != nil {
			return ctrl.Result{}, err
		}
	}
	if len(left) > 0 {
		r.Recorder.Eventf(app, nil, corev1.EventTypeWarning, platformv1.EventCleanupAbandoned, "Delete",
			"%s=true: left %s behind in the backends; remove them by hand", platformv1.AnnotationAbandonCleanup, strings.Join(left, ", "))
	}
	if err := r.removeFinalizers(ctx, app, platformv1.FinalizerLegacyCleanup); err != nil {
		return ctrl.Result{}, err
	}
	metrics.ForgetApplication(app.Namespace, app.Name)
	return ctrl.Result{}, nil
}

var errCleanupBlocked = errors.New("cleanup blocked")

// removeFinalizers drops the given finalizers, if present, in one write.
func (r *Reconciler) removeFinalizers(ctx context.Context, app *platformv1.Application, finalizers ...string) error {
	patch := client.MergeFromWithOptions(app.DeepCopy(), client.MergeFromWithOptimisticLock{})
	changed := false
	for _, f := range finalizers {
		changed = controllerutil.RemoveFinalizer(app, f) || changed
	}
	if !changed {
		return nil
	}
	return client.IgnoreNotFound(r.Patch(ctx, app, patch))
}

// sameCondition reports whether a condition is unchanged between two
// versions of the app, so an Event is emitted once per new failure, not on
// every retry.
func sameCondition(before, after *platformv1.Application, typ string) bool {
	b, a := meta.FindStatusCondition(before.Status.Conditions, typ), meta.FindStatusCondition(after.Status.Conditions, typ)
	return b != nil && a != nil && b.Status == a.Status && b.Reason == a.Reason && b.Message == a.Message
}

// provisioned reads what versions before the capability finalizers
// recorded — a capability provisioned before the spec stopped asking for it
// — only to migrate their single finalizer, and for Events.
func provisioned(app *platformv1.Application, typ string) bool {
	c := meta.FindStatusCondition(app.Status.Conditions, typ)
	return c != nil && c.Reason == platformv1.ReasonProvisioned
}
