package application

import (
	"slices"

	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/messaging"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/naming"
)

// cleanups are the external cleanups of an app, each guarded by its own
// finalizer (kit.Step).
func (r *Reconciler) cleanups(n naming.Names, retain bool) []kit.Step {
	return []kit.Step{
		{
			Finalizer: platformv1.FinalizerDatabase, What: "the database", Backend: "PostgreSQL (DB_ADMIN_URL)", Wake: capability.BackendDatabase,
			Configured: r.Caps.Configured(capability.BackendDatabase),
			Run:        func(ctx context.Context) error { return r.Caps.Database.Remove(ctx, databaseSpec(n), retain) },
		},
		{
			Finalizer: platformv1.FinalizerStorage, What: "the buckets and keys", Backend: "the object store (S3_ENDPOINT)", Wake: capability.BackendObjectStore,
			Configured: r.Caps.Configured(capability.BackendObjectStore),
			Run: func(ctx context.Context) error {
				return r.Caps.Storage.Remove(ctx, storageSpec(n, r.Config.BaseDomain), retain)
			},
		},
		{
			Finalizer: platformv1.FinalizerAuth, What: "the OIDC client", Backend: "the identity provider (KEYCLOAK_URL or DEX_ISSUER_URL)", Wake: capability.BackendIdentity,
			Configured: r.Caps.Configured(capability.BackendIdentity),
			Run:        func(ctx context.Context) error { return r.Caps.Auth.Remove(ctx, authSpec(n, r.Config.BaseDomain)) },
		},
		{
			Finalizer: platformv1.FinalizerMessaging, What: "the NATS user", Backend: "the NATS server (NATS_URL)", Wake: messaging.BackendNATS,
			Configured: r.Config.NATS.URL != "",
			Run:        func(ctx context.Context) error { return r.removeMessaging(ctx, n.App()) },
		},
	}
}

// finalizers adds the finalizer of every capability the app asks for whose
// backend is configured — before the phases make their first external
// call, so a crash right after that call still leaves the cleanup recorded
// — and replaces the single finalizer of earlier versions by the
// capability finalizers it stood for. The kit writes them in one patch.
func (r *Reconciler) finalizers(app *platformv1.Application) {
	legacy := slices.Contains(app.Finalizers, platformv1.FinalizerLegacyCleanup)
	enabled := map[string]bool{
		platformv1.FinalizerDatabase:  app.Spec.DatabaseEnabled() || (legacy && provisioned(app, platformv1.ConditionDatabaseReady)),
		platformv1.FinalizerStorage:   app.Spec.StorageEnabled() || (legacy && provisioned(app, platformv1.ConditionStorageReady)),
		platformv1.FinalizerAuth:      app.Spec.AuthEnabled() || (legacy && provisioned(app, platformv1.ConditionAuthReady)),
		platformv1.FinalizerMessaging: app.Spec.MessagingEnabled(),
	}
	var add []string
	for _, step := range r.cleanups(naming.Names{}, false) {
		if enabled[step.Finalizer] && step.Configured {
			add = append(add, step.Finalizer)
		}
	}
	kit.AddFinalizers[*platformv1.Application](add, platformv1.FinalizerLegacyCleanup)(app)
}

// reconcileDelete cleans up what garbage collection cannot: the database,
// the buckets and keys, the OIDC client — each while its finalizer says it
// was provisioned, with the app's deletion policy. Kubernetes children go
// with the Application through their owner references.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) (ctrl.Result, error) {
	policy := s.app.Spec.DeletionPolicy()
	res, err := r.kit.Cleanup(ctx, s.Run, "app", string(policy), r.cleanups(s.names, policy == platformv1.DeletionPolicyRetain), platformv1.FinalizerLegacyCleanup)
	if err == nil {
		metrics.ForgetApplication(s.app.Namespace, s.app.Name)
	}
	return res, err
}

// provisioned reads what versions before the capability finalizers
// recorded — a capability provisioned before the spec stopped asking for it
// — only to migrate their single finalizer.
func provisioned(app *platformv1.Application, typ string) bool {
	c := meta.FindStatusCondition(app.Status.Conditions, typ)
	return c != nil && c.Reason == platformv1.ReasonProvisioned
}
