package application

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/auth"
	"github.com/plattr/plattr/internal/capability/compose"
	capdatabase "github.com/plattr/plattr/internal/capability/database"
	"github.com/plattr/plattr/internal/capability/ingress"
	"github.com/plattr/plattr/internal/capability/storage"
	"github.com/plattr/plattr/internal/capability/workload"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

// An Application composes the shared capabilities: this file says what it
// asks of each — the names, the Target, the specs — and the phases hand
// them over. The capabilities do the work and set their conditions.

// target is the app as the capabilities see it.
func target(s *scope) capability.Target {
	app := s.app
	return capability.Target{
		Owner:     app,
		Namespace: app.Namespace,
		Controller: metav1.OwnerReference{
			APIVersion: platformv1.GroupVersion.String(), Kind: "Application", Name: app.Name, UID: app.UID,
		},
		Labels:      labels(app),
		Settled:     s.Settled,
		Established: s.Before.Status.ObservedGeneration > 0,
	}
}

func labels(app *platformv1.Application) map[string]string {
	return map[string]string{
		platformv1.LabelName:        naming.DNSLabel(app.Name),
		platformv1.LabelManagedBy:   platformv1.ManagedByValue,
		platformv1.LabelApp:         app.Name,
		platformv1.LabelEnvironment: string(app.Spec.Environment),
	}
}

// selectorLabels select an app's pods; they never change, because a
// Deployment's selector is immutable.
func selectorLabels(app *platformv1.Application) map[string]string {
	return map[string]string{platformv1.LabelName: naming.DNSLabel(app.Name), platformv1.LabelApp: app.Name}
}

// backendOwner names the app in the backends, on every schema, bucket,
// user and client it gets.
func backendOwner(app *platformv1.Application) string { return app.Namespace + "/" + app.Name }

// storageOwner is what the object store records for the app's buckets: the
// UID too, so an app re-created under the same name is a new owner and does
// not get buckets an earlier one kept (docs/OPERATOR.md).
func storageOwner(app *platformv1.Application) string {
	return backendOwner(app) + "/" + string(app.UID)
}

func databaseSpec(n naming.Names) capdatabase.Spec {
	app := n.App()
	return capdatabase.Spec{
		Enabled: app.Spec.DatabaseEnabled(),
		Names:   n.Database(),
		Owner:   database.Owner{Namespace: app.Namespace, Name: app.Name, UID: string(app.UID)},
		Secret:  naming.ObjectsFor(app.Name).DatabaseSecret,
	}
}

func storageSpec(n naming.Names, baseDomain string) storage.Spec {
	app := n.App()
	spec := storage.Spec{
		Enabled:       app.Spec.StorageEnabled(),
		BucketName:    n.Bucket,
		BucketsPrefix: n.BucketsPrefix(),
		User:          n.StorageUser(),
		LegacyUser:    n.LegacyStorageUser(),
		Owner:         storageOwner(app),
		Secret:        naming.ObjectsFor(app.Name).StorageSecret,
		Origins:       []string{"https://" + n.Host(baseDomain)},
		Retain:        app.Spec.DeletionPolicy() == platformv1.DeletionPolicyRetain,
	}
	if app.Spec.Storage != nil {
		spec.Buckets = app.Spec.Storage.Buckets
	}
	if app.Spec.CORS != nil {
		spec.Origins = append(spec.Origins, app.Spec.CORS.Origins...)
	}
	return spec
}

func authSpec(n naming.Names, baseDomain string) auth.Spec {
	app := n.App()
	spec := auth.Spec{
		Enabled: app.Spec.AuthEnabled(),
		Client:  auth.NewClient(backendOwner(app), n.Realm(), app.Name, n.Host(baseDomain)),
		Secret:  naming.ObjectsFor(app.Name).AuthSecret,
		// The platform namespace's Secret for this app: never one in the
		// app's namespace, which its tenant writes.
		Credentials: auth.CredentialsSecretName(app.Namespace, app.Name),
	}
	if app.Spec.Auth != nil {
		spec.Providers = app.Spec.Auth.Providers
	}
	return spec
}

func ingressSpec(n naming.Names, baseDomain string) ingress.Spec {
	app := n.App()
	o := naming.ObjectsFor(app.Name)
	return ingress.Spec{
		Host:       n.Host(baseDomain),
		Generated:  n.GeneratedHost(baseDomain),
		Tenant:     n.Tenant(),
		Service:    o.Workload,
		REST:       o.PostgRESTIngress,
		LegacyREST: o.LegacyPostgRESTIngress,
		PostgREST:  app.Spec.DatabaseEnabled(),
		TLSSecret:  o.TLSSecret,
	}
}

// workloadSpec runs spec.imageRef with the environment the enabled
// capabilities provide, in this order: database, storage, auth.
func (r *Reconciler) workloadSpec(s *scope) workload.Spec {
	app := s.app
	t := target(s)
	spec := workload.Spec{
		Name:       naming.ObjectsFor(app.Name).Workload,
		App:        app.Name,
		Image:      app.Spec.ImageRef,
		Port:       app.Spec.EffectivePort(),
		HealthPath: app.Spec.EffectiveHealthPath(),
		Scaling:    app.Spec.EffectiveScaling(),
		EnvVars:    app.Spec.EnvVars,
		Selector:   selectorLabels(app),
	}
	if app.Spec.DatabaseEnabled() {
		db := databaseSpec(s.names)
		spec.PostgREST = &workload.PostgREST{Secret: db.Secret, Names: db.Names}
	}
	spec.Messaging = r.messagingWorkload(app)
	spec.Needs = r.Caps.Needs(t, compose.Specs{Database: databaseSpec(s.names), Storage: storageSpec(s.names, r.Config.BaseDomain), Auth: authSpec(s.names, r.Config.BaseDomain)}, s.Provided)
	return spec
}

// phases are the steps of a reconcile, in order. Each hands its capability
// the app's spec and records the outcome in the scope; a failing one does
// not stop the others, so independent capabilities make progress.
func (r *Reconciler) phases() []kit.Phase[*scope] {
	return []kit.Phase[*scope]{
		{Name: capdatabase.Name, Run: r.reconcileDatabase},
		{Name: storage.Name, Run: r.reconcileStorage},
		{Name: auth.Name, Run: r.reconcileAuth},
		{Name: "messaging", Run: r.reconcileMessaging},
		{Name: "addons", Run: r.reconcileAddons},
		{Name: "workload", Run: r.reconcileWorkload},
		{Name: "ingress", Run: r.reconcileIngress},
		{Name: "api", Run: r.reconcileAPI},
	}
}

func (r *Reconciler) reconcileDatabase(ctx context.Context, s *scope) {
	spec := databaseSpec(s.names)
	if spec.Enabled {
		tenants, err := r.tenants(ctx)
		if err != nil {
			r.kit.Record(s.Run, capdatabase.Name, nil, err)
			return
		}
		spec.Owner.Reserved = naming.ReservedPrefixes(s.app.Spec.Environment, s.names.Tenant(), tenants)
	}
	sources, err := r.Caps.Database.Ensure(ctx, target(s), spec)
	r.kit.Record(s.Run, capdatabase.Name, sources, err)
}

// tenants are the names of the Tenants in the cache: their name prefixes
// are reserved for their apps (naming.ReservedPrefixes), so no other app
// creates a schema, role or bucket under them.
func (r *Reconciler) tenants(ctx context.Context) ([]string, error) {
	list := &platformv1.TenantList{}
	if err := r.List(ctx, list); err != nil {
		return nil, err
	}
	tenants := make([]string, 0, len(list.Items))
	for _, t := range list.Items {
		tenants = append(tenants, t.Name)
	}
	return tenants, nil
}

func (r *Reconciler) reconcileStorage(ctx context.Context, s *scope) {
	spec := storageSpec(s.names, r.Config.BaseDomain)
	if spec.Enabled {
		tenants, err := r.tenants(ctx)
		if err != nil {
			r.kit.Record(s.Run, storage.Name, nil, err)
			return
		}
		spec.Reserved = naming.ReservedBucketPrefixes(s.app.Spec.Environment, s.names.Tenant(), tenants)
	}
	sources, err := r.Caps.Storage.Ensure(ctx, target(s), spec)
	r.kit.Record(s.Run, storage.Name, sources, err)
}

func (r *Reconciler) reconcileAuth(ctx context.Context, s *scope) {
	sources, err := r.Caps.Auth.Ensure(ctx, target(s), authSpec(s.names, r.Config.BaseDomain))
	r.kit.Record(s.Run, auth.Name, sources, err)
}

// reconcileAddons covers redis and search, which have no condition of their
// own and are not provided yet: an app asking for them stays Pending.
func (r *Reconciler) reconcileAddons(_ context.Context, s *scope) {
	if s.app.Spec.Redis != nil && s.app.Spec.Redis.Enabled {
		s.unsupported = append(s.unsupported, "spec.redis is not supported yet; set spec.redis.enabled to false")
	}
	if s.app.Spec.Search != nil && s.app.Spec.Search.Enabled {
		s.unsupported = append(s.unsupported, "spec.search is not supported yet; set spec.search.enabled to false")
	}
}

func (r *Reconciler) reconcileWorkload(ctx context.Context, s *scope) {
	res, err := r.Caps.Workload.Ensure(ctx, target(s), r.workloadSpec(s))
	s.Waiting = res.Waiting
	s.WorkloadUp = res.Up
	r.kit.Record(s.Run, "workload", nil, err)
}

func (r *Reconciler) reconcileIngress(ctx context.Context, s *scope) {
	err := r.Caps.Ingress.Ensure(ctx, target(s), ingressSpec(s.names, r.Config.BaseDomain), s.WorkloadUp)
	r.kit.Record(s.Run, "ingress", nil, err)
}
