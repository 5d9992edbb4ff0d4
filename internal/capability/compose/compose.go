// Package compose puts the capabilities together for a controller: one Set
// built from the operator's backends and settings, and the workload's needs
// from what the other capabilities provided. The Application and
// PreviewEnvironment controllers share it; what differs between them is
// their Targets and Specs.
package compose

import (
	"context"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/auth"
	capdatabase "github.com/plattr/plattr/internal/capability/database"
	"github.com/plattr/plattr/internal/capability/ingress"
	"github.com/plattr/plattr/internal/capability/storage"
	"github.com/plattr/plattr/internal/capability/workload"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/objectstore"
)

// Backends are the operator's connections; Store and Identity are nil when
// none is configured.
type Backends struct {
	DB       *database.Provisioner
	Store    *objectstore.Store
	Identity identity.Provider
	// Claims finds who else serves a host (nil: hosts are not checked for
	// conflicts, only against the configured rules).
	Claims ingress.Claims
}

// Pings are the checks of the configured backends, by name
// (capability.Backend*): the backend watch and plattr_backend_up use them.
func (b Backends) Pings() map[string]func(context.Context) error {
	pings := map[string]func(context.Context) error{}
	if b.DB != nil {
		pings[capability.BackendDatabase] = b.DB.Ping
	}
	if b.Store != nil {
		pings[capability.BackendObjectStore] = b.Store.Ping
	}
	if b.Identity != nil {
		pings[capability.BackendIdentity] = b.Identity.Ping
	}
	return pings
}

// Set is every capability, ready to use. It is built once, at setup, and
// shared by every controller; the controllers reach the backends only
// through it.
type Set struct {
	Database *capdatabase.Capability
	Storage  *storage.Capability
	Auth     *auth.Capability
	Workload *workload.Capability
	Ingress  *ingress.Capability

	pings map[string]func(context.Context) error
}

// Configured reports whether the operator has the backend (capability.Backend*).
func (s Set) Configured(backend string) bool { return s.pings[backend] != nil }

// Pings are the checks of the configured backends, by name.
func (s Set) Pings() map[string]func(context.Context) error { return s.pings }

// New builds the Set for the operator's backends and settings.
func New(kube capability.Kube, b Backends, cfg config.Operator) Set {
	s := Set{
		Database: &capdatabase.Capability{Kube: kube},
		Storage:  &storage.Capability{Kube: kube, AllowSharedKeys: cfg.S3.AllowSharedKeys},
		Auth:     &auth.Capability{Kube: kube, IdP: b.Identity, ProvidersSecret: cfg.Auth.ProvidersSecret, PlatformNamespace: cfg.PlatformNamespace},
		Workload: &workload.Capability{Kube: kube, ProgressDeadline: cfg.ProgressDeadline},
		Ingress: &ingress.Capability{Kube: kube, Class: cfg.IngressClass, ClusterIssuer: cfg.ClusterIssuer, Hosts: ingress.Hosts{
			BaseDomain: cfg.BaseDomain, Reserved: cfg.PlatformHosts(), AllowedSuffixes: cfg.AllowedDomainSuffixes, Claims: b.Claims,
		}},
		pings: b.Pings(),
	}
	// A nil pointer in an interface would not compare nil.
	if b.DB != nil {
		s.Database.DB = b.DB
	}
	if b.Store != nil {
		s.Storage.Store = b.Store
	}
	return s
}

// Specs are what an owner asks of the capabilities its workload takes its
// environment from.
type Specs struct {
	Database capdatabase.Spec
	Storage  storage.Spec
	Auth     auth.Spec
}

// Needs are the workload's needs, in envFrom order (database, storage,
// auth): each enabled capability with what it provided this reconcile —
// nil when it failed — and how to read what it provided before.
func (s Set) Needs(t capability.Target, specs Specs, provided map[string][]capability.Source) []workload.Need {
	var needs []workload.Need
	if db := specs.Database; db.Enabled {
		needs = append(needs, workload.Need{
			From: capdatabase.Name, Condition: platformv1.ConditionDatabaseReady, Reason: platformv1.ReasonWaitingForDatabase,
			What: "the database to be provisioned (see DatabaseReady)", Provided: provided[capdatabase.Name],
			LastGood: func(ctx context.Context) ([]capability.Source, error) { return s.Database.LastGood(ctx, t, db) },
		})
	}
	if st := specs.Storage; st.Enabled {
		needs = append(needs, workload.Need{
			From: storage.Name, Condition: platformv1.ConditionStorageReady, Reason: platformv1.ReasonWaitingForStorage,
			What: "its buckets and keys (see StorageReady)", Provided: provided[storage.Name],
			LastGood: func(ctx context.Context) ([]capability.Source, error) { return s.Storage.LastGood(ctx, t, st) },
		})
	}
	if au := specs.Auth; au.Enabled {
		needs = append(needs, workload.Need{
			From: auth.Name, Condition: platformv1.ConditionAuthReady, Reason: platformv1.ReasonWaitingForAuth,
			What: "its OIDC client (see AuthReady)", Provided: provided[auth.Name],
			LastGood: func(ctx context.Context) ([]capability.Source, error) { return s.Auth.LastGood(ctx, t, au) },
		})
	}
	return needs
}
