package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/mirror"
)

// The cluster is the source of truth for tenants: these handlers write the
// Tenant custom resource and read it back, status included.

type tenantRequest struct {
	// Name is the tenant's id: a lowercase DNS label of at most 30
	// characters; it prefixes the tenant's namespaces.
	Name        string                    `json:"name"`
	DisplayName string                    `json:"displayName,omitempty"`
	Members     []platformv1.TenantMember `json:"members,omitempty"`
	// Environments get a namespace each [staging, production].
	Environments []platformv1.Environment `json:"environments,omitempty"`
	// Quota is small, medium or large [small].
	Quota platformv1.TenantQuota `json:"quota,omitempty"`
}

type tenantView struct {
	Name         string                       `json:"name"`
	DisplayName  string                       `json:"displayName,omitempty"`
	Members      []platformv1.TenantMember    `json:"members"`
	Environments []platformv1.Environment     `json:"environments"`
	Quota        platformv1.TenantQuota       `json:"quota"`
	Phase        string                       `json:"phase"`
	Namespaces   []platformv1.TenantNamespace `json:"namespaces"`
	Conditions   []metav1.Condition           `json:"conditions"`
	Deleting     bool                         `json:"deleting,omitempty"`
	CreatedAt    time.Time                    `json:"createdAt"`
}

func viewTenant(t *platformv1.Tenant) tenantView {
	v := tenantView{
		Name: t.Name, DisplayName: t.Spec.DisplayName, Members: t.Spec.Members, Environments: t.Spec.Environments,
		Quota: t.Spec.Quota, Phase: string(t.Status.Phase), Namespaces: t.Status.Namespaces, Conditions: t.Status.Conditions,
		Deleting: t.DeletionTimestamp != nil, CreatedAt: t.CreationTimestamp.UTC(),
	}
	if v.Members == nil {
		v.Members = []platformv1.TenantMember{}
	}
	if v.Namespaces == nil {
		v.Namespaces = []platformv1.TenantNamespace{}
	}
	if v.Conditions == nil {
		v.Conditions = []metav1.Condition{}
	}
	return v
}

// tenantRole is the caller's role in t: Admin, User or "".
func tenantRole(p *authz.Principal, t *platformv1.Tenant) string {
	for _, m := range t.Spec.Members {
		if strings.EqualFold(m.Email, p.User.Email) {
			return string(m.Role)
		}
	}
	return ""
}

func (s *Server) loadTenant(c *call, manage bool) (*platformv1.Tenant, error) {
	t := &platformv1.Tenant{}
	err := s.Cache.Get(c.ctx(), client.ObjectKey{Name: c.path("name")}, t)
	if apierrors.IsNotFound(err) && s.Kube != nil {
		// As for apps: this replica's cache may lag another's write.
		err = s.Kube.Get(c.ctx(), client.ObjectKey{Name: c.path("name")}, t)
	}
	role := ""
	if err == nil {
		role = tenantRole(c.p, t)
	}
	// The role is checked before "not found" is told, as for apps.
	switch {
	case c.p.User.SiteAdmin:
	case manage && role != string(platformv1.TenantAdmin):
		return nil, &authz.Denied{Action: authz.ManageTenant, Need: []string{"role Admin in tenant " + c.path("name"), authz.RoleSiteAdmin}}
	case !manage && role == "":
		return nil, &authz.Denied{Action: "view the tenant", Need: []string{"membership of tenant " + c.path("name"), authz.RoleSiteAdmin}}
	}
	if apierrors.IsNotFound(err) {
		return nil, notFound("tenant %s does not exist", c.path("name"))
	}
	return t, err
}

func (s *Server) listTenants(c *call) (any, error) {
	list := &platformv1.TenantList{}
	if err := s.Cache.List(c.ctx(), list); err != nil {
		return nil, err
	}
	out := []tenantView{}
	for i := range list.Items {
		if t := &list.Items[i]; c.p.User.SiteAdmin || tenantRole(c.p, t) != "" {
			out = append(out, viewTenant(t))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Server) getTenant(c *call) (any, error) {
	t, err := s.loadTenant(c, false)
	if err != nil {
		return nil, err
	}
	return viewTenant(t), nil
}

func (s *Server) tenantObject(req tenantRequest) *platformv1.Tenant {
	return &platformv1.Tenant{
		TypeMeta:   metav1.TypeMeta{APIVersion: platformv1.GroupVersion.String(), Kind: "Tenant"},
		ObjectMeta: metav1.ObjectMeta{Name: req.Name},
		Spec: platformv1.TenantSpec{
			DisplayName: req.DisplayName, Members: req.Members, Environments: req.Environments, Quota: req.Quota,
		},
	}
}

// createTenant is self-service: any signed-in user may create a tenant and
// becomes its Admin.
func (s *Server) createTenant(c *call) (any, error) {
	var req tenantRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, badRequest("name", "name is required: the team's id, e.g. team-alpha")
	}
	if slices.Contains(platformv1.ReservedTenantNames, req.Name) {
		// The CRD refuses them too; saying it here names the field.
		return nil, badRequest("name", "name %s is reserved: staging, uat, production and preview are environments (the tenant's hosts and namespaces would collide with theirs) and cluster is the platform's; choose another name", req.Name)
	}
	for i := range req.Members {
		req.Members[i].Email = strings.ToLower(req.Members[i].Email)
	}
	if !slices.ContainsFunc(req.Members, func(m platformv1.TenantMember) bool { return m.Email == c.p.User.Email }) {
		req.Members = append(req.Members, platformv1.TenantMember{Email: c.p.User.Email, Role: platformv1.TenantAdmin})
	}
	if err := s.mayCreateTenant(c, req); err != nil {
		return nil, err
	}
	t := s.tenantObject(req)
	t.Annotations = map[string]string{platformv1.AnnotationCreatedBy: c.p.User.Email}
	if err := s.namespacesFree(c.ctx(), t, "name"); err != nil {
		return nil, err
	}
	if err := s.Kube.Create(c.ctx(), t); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, &Error{Status: http.StatusConflict, Field: "name", Message: "tenant " + req.Name + " already exists: choose another name"}
		}
		return nil, err
	}
	return viewTenant(t), nil
}

// mayCreateTenant holds self-service to its bounds: a user who is not a
// site admin creates at most TenantsPerUser tenants (those still there,
// by the created-by annotation), none with the large quota.
func (s *Server) mayCreateTenant(c *call, req tenantRequest) error {
	if err := quotaAllowed(c, req.Quota, ""); err != nil || c.p.User.SiteAdmin {
		return err
	}
	limit := s.TenantsPerUser
	if limit <= 0 {
		limit = 3
	}
	list := &platformv1.TenantList{}
	if err := s.Kube.List(c.ctx(), list); err != nil {
		return err
	}
	n := 0
	for _, t := range list.Items {
		if t.DeletionTimestamp == nil && strings.EqualFold(t.Annotations[platformv1.AnnotationCreatedBy], c.p.User.Email) {
			n++
		}
	}
	if n >= limit {
		return &Error{Status: http.StatusForbidden, Message: fmt.Sprintf(
			"you have created %d tenants, the most a user may (TENANTS_PER_USER): delete one, or ask a site admin to create this one", n)}
	}
	return nil
}

// quotaAllowed refuses the large quota to a user who is not a site admin,
// unless the tenant has it already (a site admin granted it).
func quotaAllowed(c *call, want, had platformv1.TenantQuota) error {
	if want != platformv1.TenantQuotaLarge || had == platformv1.TenantQuotaLarge || c.p.User.SiteAdmin {
		return nil
	}
	return &Error{Status: http.StatusForbidden, Field: "quota",
		Message: "the large quota is granted by a site admin: ask one to set it, or choose small or medium"}
}

// namespacesFree refuses a tenant whose namespace names are taken by
// someone else, before anything is written: on create and on every update
// (an update that adds an environment claims one more namespace).
func (s *Server) namespacesFree(ctx context.Context, t *platformv1.Tenant, field string) error {
	envs := t.Spec.Environments
	if len(envs) == 0 {
		envs = []platformv1.Environment{platformv1.EnvironmentStaging, platformv1.EnvironmentProduction}
	}
	for _, env := range envs {
		ns := &corev1.Namespace{}
		err := s.Kube.Get(ctx, client.ObjectKey{Name: t.NamespaceFor(env)}, ns)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if !mirror.NamespaceMayBeTenants(ns, t) {
			return &Error{Status: http.StatusConflict, Field: field,
				Message: "namespace " + ns.Name + " already exists and is not tenant " + t.Name + "'s: choose another tenant name, or leave environment " + string(env) + " out"}
		}
	}
	return nil
}

func (s *Server) updateTenant(c *call) (any, error) {
	t, err := s.loadTenant(c, true)
	if err != nil {
		return nil, err
	}
	var req tenantRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.Name != "" && req.Name != t.Name {
		return nil, badRequest("name", "a tenant cannot be renamed: create a new one")
	}
	req.Name = t.Name
	for i := range req.Members {
		req.Members[i].Email = strings.ToLower(req.Members[i].Email)
	}
	if !c.p.User.SiteAdmin && !slices.ContainsFunc(req.Members, func(m platformv1.TenantMember) bool {
		return m.Email == c.p.User.Email && m.Role == platformv1.TenantAdmin
	}) {
		return nil, badRequest("members", "you would remove yourself as Admin; keep yourself as Admin, or ask a site admin")
	}
	if err := quotaAllowed(c, req.Quota, t.Spec.Quota); err != nil {
		return nil, err
	}
	live := t.DeepCopy()
	domains := live.Spec.Domains
	live.Spec = s.tenantObject(req).Spec
	if err := s.namespacesFree(c.ctx(), live, "environments"); err != nil {
		return nil, err
	}
	// The domains are the platform team's to set (kubectl), never a
	// tenant Admin's: an update through the API keeps them.
	live.Spec.Domains = domains
	if err := s.Kube.Update(c.ctx(), live); err != nil {
		return nil, err
	}
	return viewTenant(live), nil
}

func (s *Server) deleteTenant(c *call) (any, error) {
	t, err := s.loadTenant(c, true)
	if err != nil {
		return nil, err
	}
	return nil, client.IgnoreNotFound(s.Kube.Delete(c.ctx(), t))
}
