package mirror

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/api/events"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// Tenants keeps the environment roles of each tenant's namespaces equal to
// the members its Tenant lists: the cluster is the source of truth, so a
// member added with kubectl can use the API at once.
type Tenants struct {
	Cache cache.Cache
	// Namespaces reads Namespace objects (the API server itself: the cache
	// holds none); Cache when nil.
	Namespaces client.Reader
	Store      *store.Store
	Log        logr.Logger
}

// Start registers the handler.
func (m *Tenants) Start(ctx context.Context) error {
	inf, err := m.Cache.GetInformer(ctx, &platformv1.Tenant{})
	if err != nil {
		return err
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { m.sync(ctx, obj, false) },
		UpdateFunc: func(_, obj any) { m.sync(ctx, obj, false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			m.sync(ctx, obj, true)
		},
	})
	if err != nil {
		return err
	}
	go func() {
		if !m.Cache.WaitForCacheSync(ctx) {
			return
		}
		if err := m.prune(ctx); err != nil && ctx.Err() == nil {
			m.Log.Error(err, "forgetting the namespaces of tenants deleted while the API was down")
		}
	}()
	return nil
}

// NamespaceOwnedBy reports whether ns is tenant t's: labelled for it by
// the operator's tenant controller and controlled by this very Tenant
// object (its UID; a Tenant made later under the same name is another).
// The labels and owner reference are trustworthy because only the
// operator and cluster admins write Namespace objects: they are
// cluster-scoped, and a tenant's members hold only the namespaced admin
// and edit roles inside their namespaces.
func NamespaceOwnedBy(ns *corev1.Namespace, t *platformv1.Tenant) bool {
	if ns.Labels[platformv1.LabelTenant] != t.Name || ns.Labels[platformv1.LabelManagedBy] != platformv1.ManagedByValue || t.UID == "" {
		return false
	}
	ref := metav1.GetControllerOf(ns)
	return ref != nil && ref.Kind == "Tenant" && ref.Name == t.Name && ref.UID == t.UID
}

// NamespaceMayBeTenants reports whether an existing namespace may become
// (or stay) tenant t's: it is labelled for t and, if a Tenant controls it,
// that is t (a Tenant not yet created has no UID: a namespace of an
// earlier tenant of the same name, still being deleted, is allowed, as
// the tenant controller waits for it).
func NamespaceMayBeTenants(ns *corev1.Namespace, t *platformv1.Tenant) bool {
	if ns.Labels[platformv1.LabelTenant] != t.Name || ns.Labels[platformv1.LabelManagedBy] != platformv1.ManagedByValue {
		return false
	}
	ref := metav1.GetControllerOf(ns)
	return t.UID == "" || ref == nil || (ref.Kind == "Tenant" && ref.UID == t.UID)
}

// TenantState is what the stream tells a tenant's members (the tenant
// event's payload).
type TenantState = events.Tenant

func (m *Tenants) sync(ctx context.Context, obj any, deleted bool) {
	t, ok := obj.(*platformv1.Tenant)
	if !ok {
		return
	}
	m.record(ctx, t, deleted)
	members := map[string]string{}
	if !deleted && t.DeletionTimestamp.IsZero() {
		for _, mem := range t.Spec.Members {
			members[strings.ToLower(mem.Email)] = string(mem.Role)
		}
	}
	for _, env := range []platformv1.Environment{platformv1.EnvironmentStaging, platformv1.EnvironmentUAT, platformv1.EnvironmentProduction} {
		if err := m.syncNamespace(ctx, t, env, deleted, members); err != nil && ctx.Err() == nil {
			m.Log.Error(err, "syncing a tenant's roles", "tenant", t.Name, "environment", env)
		}
	}
}

// syncNamespace keeps the roles of one of t's namespaces, acting only on a
// namespace that is t's: one the operator made for this Tenant (read from
// the API server), or one whose roles the mirror kept for it (its claim,
// by the Tenant's UID, outlives the namespace). Any other namespace of the
// same name (a shared shop-production, another tenant's) is never synced
// nor forgotten on t's behalf.
func (m *Tenants) syncNamespace(ctx context.Context, t *platformv1.Tenant, env platformv1.Environment, deleted bool, members map[string]string) error {
	name := t.NamespaceFor(env)
	ns, err := m.readNamespace(ctx, name)
	if err != nil {
		return err
	}
	owned := ns != nil && NamespaceOwnedBy(ns, t)
	claim, err := m.Store.ClaimOf(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	claimed := err == nil
	keep := !deleted && t.DeletionTimestamp.IsZero() && containsEnv(t.Spec.Environments, env)
	switch {
	case keep && owned:
		if claimed && claim.TenantUID != string(t.UID) {
			// An earlier tenant of the same name, gone while no replica
			// watched: nothing of its carries over.
			if err := m.Store.ForgetNamespace(ctx, name); err != nil {
				return err
			}
		}
		if err := m.Store.ClaimNamespace(ctx, store.NamespaceClaim{Namespace: name, Tenant: t.Name, TenantUID: string(t.UID)}); err != nil {
			return err
		}
		return m.Store.SyncEnvironmentRoles(ctx, name, members)
	case keep:
		// Not made yet (the Tenant's next status change brings it back
		// here), or someone else's: nobody gets a role there through t.
		return nil
	case owned || (claimed && claim.TenantUID == string(t.UID)):
		// Gone, or an environment dropped: nobody keeps a role there, and
		// nothing recorded there is shown to a later namespace's users.
		return m.Store.ForgetNamespace(ctx, name)
	}
	return nil
}

// readNamespace reads a namespace; nil when there is none.
func (m *Tenants) readNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	r := m.Namespaces
	if r == nil {
		r = m.Cache
	}
	ns := &corev1.Namespace{}
	err := r.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return ns, err
}

// prune forgets the namespaces claimed by tenants that no longer exist.
func (m *Tenants) prune(ctx context.Context) error {
	claims, err := m.Store.NamespaceClaims(ctx)
	if err != nil {
		return err
	}
	for _, c := range claims {
		t := &platformv1.Tenant{}
		err := m.Cache.Get(ctx, client.ObjectKey{Name: c.Tenant}, t)
		if err == nil && string(t.UID) == c.TenantUID {
			continue
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err := m.Store.ForgetNamespace(ctx, c.Namespace); err != nil {
			return err
		}
	}
	return nil
}

func containsEnv(list []platformv1.Environment, e platformv1.Environment) bool {
	return slices.Contains(list, e)
}

func (m *Tenants) record(ctx context.Context, t *platformv1.Tenant, deleted bool) {
	var err error
	if deleted {
		err = m.Store.DeleteTenantState(ctx, t.Name)
	} else {
		st := TenantState{Phase: string(t.Status.Phase), Namespaces: []events.TenantNamespace{}, Members: []string{}}
		for _, ns := range t.Status.Namespaces {
			st.Namespaces = append(st.Namespaces, events.TenantNamespace{Environment: string(ns.Environment), Name: ns.Name})
		}
		for _, mem := range t.Spec.Members {
			st.Members = append(st.Members, strings.ToLower(mem.Email))
		}
		var b []byte
		if b, err = json.Marshal(st); err == nil {
			err = m.Store.SetTenantState(ctx, t.Name, b)
		}
	}
	if err != nil && ctx.Err() == nil {
		m.Log.Error(err, "recording a tenant's state", "tenant", t.Name)
	}
}
