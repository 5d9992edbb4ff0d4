package mirror

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// Tenants keeps the environment roles of each tenant's namespaces equal to
// the members its Tenant lists: the cluster is the source of truth, so a
// member added with kubectl can use the API at once.
type Tenants struct {
	Cache cache.Cache
	Store *store.Store
	Log   logr.Logger
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
	return err
}

// TenantState is what the stream tells a tenant's members.
type TenantState struct {
	Phase      string                       `json:"phase"`
	Namespaces []platformv1.TenantNamespace `json:"namespaces"`
	Members    []string                     `json:"members"` // emails: who may see the event
}

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
		ns := t.NamespaceFor(env)
		var err error
		switch {
		case deleted || !containsEnv(t.Spec.Environments, env):
			// Gone, or an environment dropped: nobody keeps a role there.
			err = m.Store.ForgetNamespace(ctx, ns)
		default:
			err = m.Store.SyncEnvironmentRoles(ctx, ns, members)
		}
		if err != nil && ctx.Err() == nil {
			m.Log.Error(err, "syncing a tenant's roles", "tenant", t.Name)
		}
	}
}

func containsEnv(list []platformv1.Environment, e platformv1.Environment) bool {
	return slices.Contains(list, e)
}

func (m *Tenants) record(ctx context.Context, t *platformv1.Tenant, deleted bool) {
	var err error
	if deleted {
		err = m.Store.DeleteTenantState(ctx, t.Name)
	} else {
		st := TenantState{Phase: string(t.Status.Phase), Namespaces: t.Status.Namespaces, Members: []string{}}
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
