package preview

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	capdatabase "github.com/plattr/plattr/internal/capability/database"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/naming"
)

// cleanups are what a preview has, each guarded by its own finalizer
// (kit.Step): the schema and roles, the buckets and key, the OIDC client,
// then the namespace with every object in it. The specs need only names;
// the parent may be gone already.
func (r *Reconciler) cleanups(pe *platformv1.PreviewEnvironment, n naming.Preview) []kit.Step {
	parent := &platformv1.Application{}
	return []kit.Step{
		{
			Finalizer: platformv1.FinalizerDatabase, What: "the database", Backend: "PostgreSQL (DB_ADMIN_URL)", Wake: capability.BackendDatabase,
			Configured: r.Caps.Configured(capability.BackendDatabase),
			Run: func(ctx context.Context) error {
				return r.Caps.Database.Remove(ctx, capdatabase.Spec{Names: n.Database(), Owner: backendOwner(n, pe)}, false)
			},
		},
		{
			Finalizer: platformv1.FinalizerStorage, What: "the buckets and keys", Backend: "the object store (S3_ENDPOINT)", Wake: capability.BackendObjectStore,
			Configured: r.Caps.Configured(capability.BackendObjectStore),
			Run: func(ctx context.Context) error {
				return r.Caps.Storage.Remove(ctx, storageSpec(n, pe, parent, r.Config.BaseDomain), false)
			},
		},
		{
			Finalizer: platformv1.FinalizerAuth, What: "the OIDC client", Backend: "the identity provider (KEYCLOAK_URL or DEX_ISSUER_URL)", Wake: capability.BackendIdentity,
			Configured: r.Caps.Configured(capability.BackendIdentity),
			Run: func(ctx context.Context) error {
				return r.Caps.Auth.Remove(ctx, authSpec(n, pe, parent, r.Config.BaseDomain))
			},
		},
		{
			Finalizer: platformv1.FinalizerNamespace, What: "the namespace", Backend: "Kubernetes", Configured: true, Always: true,
			Run: func(ctx context.Context) error { return r.deleteNamespace(ctx, pe, n) },
		},
	}
}

// reconcileDelete removes everything of a preview — deleted by hand, by its
// parent's deletion, or by the TTL sweep. A preview's data is never
// retained. Failing steps, the wake when a backend returns and
// platform.internal/abandon-cleanup=true work as for an Application.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	return r.kit.Cleanup(ctx, s.Run, "preview", string(platformv1.DeletionPolicyDelete), r.cleanups(s.pe, s.names))
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
