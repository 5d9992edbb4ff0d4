package preview

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
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

// What a preview asks of each capability: the parent's capabilities, under
// the preview's own names, in the preview's own namespace, running the
// PR's image at scaling 1–2.

// capabilities are the operator's capabilities, with its backends.
type capabilities = compose.Set

func (r *Reconciler) capabilities() capabilities {
	kube := capability.Kube{Client: r.Client, APIReader: r.APIReader, Recorder: r.Recorder}
	return compose.New(kube, compose.Backends{DB: r.DB, Store: r.Store, Identity: r.Identity, Claims: r.Claims}, r.Config)
}

// previewScaling: one pod, a second under load (docs/OPERATOR.md#preview-environments).
var previewScaling = platformv1.ScalingSpec{Min: 1, Max: 2, TargetCPU: 80}

// target is the preview as the capabilities see it: conditions on the
// PreviewEnvironment, children in its namespace, controlled by that
// Namespace (so they go with it).
func (r *Reconciler) target(s *scope) capability.Target {
	return capability.Target{
		Owner:       s.pe,
		Namespace:   s.ns.Name,
		Controller:  metav1.OwnerReference{APIVersion: "v1", Kind: "Namespace", Name: s.ns.Name, UID: s.ns.UID},
		Labels:      childLabels(s.pe),
		Settled:     s.settled,
		Established: s.before.Status.ObservedGeneration > 0,
	}
}

// backendOwner names the preview in the backends: its namespace is unique
// to it, the app's name says whose preview it is, and the
// PreviewEnvironment's UID makes a re-created preview of the same PR a new
// owner.
func backendOwner(n naming.Preview, pe *platformv1.PreviewEnvironment) database.Owner {
	return database.Owner{Namespace: n.Namespace(), Name: n.App, UID: string(pe.UID)}
}

func objects(pe *platformv1.PreviewEnvironment) naming.Objects {
	return naming.ObjectsFor(pe.Spec.ApplicationRef)
}

func databaseSpec(n naming.Preview, pe *platformv1.PreviewEnvironment, parent *platformv1.Application) capdatabase.Spec {
	return capdatabase.Spec{
		Enabled: parent.Spec.DatabaseEnabled(),
		Names:   n.Database(),
		Owner:   backendOwner(n, pe),
		Secret:  objects(pe).DatabaseSecret,
	}
}

func storageSpec(n naming.Preview, pe *platformv1.PreviewEnvironment, parent *platformv1.Application, baseDomain string) storage.Spec {
	o := backendOwner(n, pe)
	spec := storage.Spec{
		Enabled:       parent.Spec.StorageEnabled(),
		BucketName:    n.Bucket,
		BucketsPrefix: n.BucketsPrefix(),
		User:          n.StorageUser(pe.Namespace),
		Owner:         o.Namespace + "/" + o.Name + "/" + o.UID,
		Secret:        objects(pe).StorageSecret,
		Origins:       []string{"https://" + n.Host(baseDomain)},
	}
	if parent.Spec.Storage != nil {
		spec.Buckets = parent.Spec.Storage.Buckets
	}
	if parent.Spec.CORS != nil {
		spec.Origins = append(spec.Origins, parent.Spec.CORS.Origins...)
	}
	return spec
}

func authSpec(n naming.Preview, pe *platformv1.PreviewEnvironment, parent *platformv1.Application, baseDomain string) auth.Spec {
	o := backendOwner(n, pe)
	spec := auth.Spec{
		Enabled: parent.Spec.AuthEnabled(),
		Client:  auth.NewClient(o.Namespace+"/"+o.Name, n.Realm(), pe.Spec.ApplicationRef, n.Host(baseDomain)),
		Secret:  objects(pe).AuthSecret,
		// A preview signs in through its parent's providers, with the
		// credentials the platform team registered for the parent.
		Credentials: auth.CredentialsSecretName(parent.Namespace, parent.Name),
	}
	if parent.Spec.Auth != nil {
		spec.Providers = parent.Spec.Auth.Providers
	}
	return spec
}

func (r *Reconciler) reconcileDatabase(ctx context.Context, s *scope, c capabilities) {
	sources, err := c.Database.Ensure(ctx, r.target(s), databaseSpec(s.names, s.pe, s.parent))
	if err == nil && copyRequested(s.pe) {
		// The workload waits for the data: the app's migrations must not
		// create tables in the schema before the copy fills it.
		if err = r.copyParentData(ctx, s, sources); err != nil {
			sources, s.dataPending = nil, true
		}
	}
	r.record(s, capdatabase.Name, sources, err)
}

func (r *Reconciler) reconcileStorage(ctx context.Context, s *scope, c capabilities) {
	sources, err := c.Storage.Ensure(ctx, r.target(s), storageSpec(s.names, s.pe, s.parent, r.Config.BaseDomain))
	r.record(s, storage.Name, sources, err)
}

func (r *Reconciler) reconcileAuth(ctx context.Context, s *scope, c capabilities) {
	sources, err := c.Auth.Ensure(ctx, r.target(s), authSpec(s.names, s.pe, s.parent, r.Config.BaseDomain))
	r.record(s, auth.Name, sources, err)
}

func (r *Reconciler) reconcileWorkload(ctx context.Context, s *scope, c capabilities) {
	pe, parent := s.pe, s.parent
	if s.dataPending {
		// Not even the configuration provisioned before: the app must not
		// run (and migrate) against a schema the copy has not filled.
		setCondition(pe, platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonWaitingForDatabase,
			"waiting for the parent's data to be copied (see DataCopied)")
		return
	}
	t := r.target(s)
	spec := workload.Spec{
		Name:             objects(pe).Workload,
		App:              pe.Spec.ApplicationRef,
		Image:            pe.Spec.ImageRef,
		Port:             parent.Spec.EffectivePort(),
		HealthPath:       parent.Spec.EffectiveHealthPath(),
		Scaling:          previewScaling,
		EnvVars:          parent.Spec.EnvVars,
		SecretsNamespace: parent.Namespace,
		Selector:         map[string]string{platformv1.LabelName: naming.DNSLabel(pe.Spec.ApplicationRef), platformv1.LabelApp: pe.Spec.ApplicationRef},
	}
	if parent.Spec.DatabaseEnabled() {
		db := databaseSpec(s.names, pe, parent)
		spec.PostgREST = &workload.PostgREST{Secret: db.Secret, Names: db.Names}
	}
	spec.Needs = c.Needs(t, compose.Specs{Database: databaseSpec(s.names, pe, parent), Storage: storageSpec(s.names, pe, parent, r.Config.BaseDomain), Auth: authSpec(s.names, pe, parent, r.Config.BaseDomain)}, s.provided)
	res, err := c.Workload.Ensure(ctx, t, spec)
	s.waiting = s.waiting || res.Waiting
	s.workloadUp = res.Up
	r.record(s, "workload", nil, err)
}

func (r *Reconciler) reconcileIngress(ctx context.Context, s *scope, c capabilities) {
	o := objects(s.pe)
	host := s.names.Host(r.Config.BaseDomain)
	err := c.Ingress.Ensure(ctx, r.target(s), ingress.Spec{
		Host:       host,
		Generated:  host, // a preview's host is always generated
		Tenant:     s.names.Tenant,
		Service:    o.Workload,
		REST:       o.PostgRESTIngress,
		LegacyREST: o.LegacyPostgRESTIngress,
		PostgREST:  s.parent.Spec.DatabaseEnabled(),
		TLSSecret:  o.TLSSecret,
	}, s.workloadUp)
	r.record(s, "ingress", nil, err)
}

// record keeps a capability's outcome; a preview that could not reach a
// backend is retried the moment it answers.
func (r *Reconciler) record(s *scope, from string, sources []capability.Source, err error) {
	if err == nil {
		if sources != nil {
			s.provided[from] = sources
		}
		return
	}
	s.errs = append(s.errs, err)
	if capability.IsTerminal(err) {
		s.terminal = true
	}
	if backend, ok := capability.UnavailableBackend(err); ok {
		r.backends.Failed(backend, s.pe)
	}
}
