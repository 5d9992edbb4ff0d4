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
	"github.com/plattr/plattr/internal/capability/messaging"
	"github.com/plattr/plattr/internal/capability/storage"
	"github.com/plattr/plattr/internal/capability/workload"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/naming"
)

// The phases of a preview's reconcile, after its namespace: each hands its
// capability the preview's spec and records the outcome in the scope; a
// failing one does not stop the others.

// phases are the steps after the namespace, in order.
func (r *Reconciler) phases() []kit.Phase[*scope] {
	return []kit.Phase[*scope]{
		{Name: capdatabase.Name, Run: r.reconcileDatabase}, {Name: storage.Name, Run: r.reconcileStorage}, {Name: auth.Name, Run: r.reconcileAuth},
		{Name: "messaging", Run: r.reconcileMessaging},
		{Name: "workload", Run: r.reconcileWorkload}, {Name: "ingress", Run: r.reconcileIngress},
	}
}

func (r *Reconciler) reconcileDatabase(ctx context.Context, s *scope) {
	sources, err := r.Caps.Database.Ensure(ctx, r.target(s), databaseSpec(s.names, s.pe, s.parent))
	if err == nil && copyRequested(s.pe) {
		// The workload waits for the data: the app's migrations must not
		// create tables in the schema before the copy fills it.
		if err = r.copyParentData(ctx, s, sources); err != nil {
			sources, s.dataPending = nil, true
		}
	}
	r.kit.Record(s.Run, capdatabase.Name, sources, err)
}

func (r *Reconciler) reconcileStorage(ctx context.Context, s *scope) {
	sources, err := r.Caps.Storage.Ensure(ctx, r.target(s), storageSpec(s.names, s.pe, s.parent, r.Config.BaseDomain))
	r.kit.Record(s.Run, storage.Name, sources, err)
}

func (r *Reconciler) reconcileAuth(ctx context.Context, s *scope) {
	sources, err := r.Caps.Auth.Ensure(ctx, r.target(s), authSpec(s.names, s.pe, s.parent, r.Config.BaseDomain))
	r.kit.Record(s.Run, auth.Name, sources, err)
}

func (r *Reconciler) reconcileWorkload(ctx context.Context, s *scope) {
	pe, parent := s.pe, s.parent
	if s.dataPending {
		// Not even the configuration provisioned before: the app must not
		// run (and migrate) against a schema the copy has not filled.
		capability.SetCondition(pe, platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonWaitingForDatabase,
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
	if parent.Spec.MessagingEnabled() && r.Config.NATS.URL != "" {
		spec.Messaging = &workload.Messaging{URL: r.Config.NATS.URL, Secret: messaging.CredsSecret(pe.Spec.ApplicationRef)}
	}
	spec.Needs = r.Caps.Needs(t, compose.Specs{Database: databaseSpec(s.names, pe, parent), Storage: storageSpec(s.names, pe, parent, r.Config.BaseDomain), Auth: authSpec(s.names, pe, parent, r.Config.BaseDomain)}, s.Provided)
	res, err := r.Caps.Workload.Ensure(ctx, t, spec)
	s.Waiting = s.Waiting || res.Waiting
	s.WorkloadUp = res.Up
	r.kit.Record(s.Run, "workload", nil, err)
}

func (r *Reconciler) reconcileIngress(ctx context.Context, s *scope) {
	o := objects(s.pe)
	host := s.names.Host(r.Config.BaseDomain)
	err := r.Caps.Ingress.Ensure(ctx, r.target(s), ingress.Spec{
		Host:       host,
		Generated:  host, // a preview's host is always generated
		Tenant:     s.names.Tenant,
		Service:    o.Workload,
		REST:       o.PostgRESTIngress,
		LegacyREST: o.LegacyPostgRESTIngress,
		PostgREST:  s.parent.Spec.DatabaseEnabled(),
		TLSSecret:  o.TLSSecret,
	}, s.WorkloadUp)
	r.kit.Record(s.Run, "ingress", nil, err)
}

// reconcileMessaging gives the preview a NATS user of its own, in its
// namespace (its subjects are the preview namespace's, never the parent's);
// it goes with the namespace, whose deletion waits for its revocation.
func (r *Reconciler) reconcileMessaging(ctx context.Context, s *scope) {
	err := messaging.EnsureUser(ctx, r.Client, r.target(s), s.pe.Spec.ApplicationRef, s.parent.Spec.Messaging, r.Config.NATS.URL != "")
	r.kit.Record(s.Run, "messaging", nil, err)
}
