package server

import (
	"context"
	"net/http"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/store"
)

type me struct {
	User         store.User        `json:"user"`
	Environments map[string]string `json:"environments"`
	Apps         []appRole         `json:"apps"`
}

type appRole struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Role      string `json:"role"`
}

func (s *Server) me(c *call) (any, error) {
	out := me{User: c.p.User, Environments: c.p.Roles.Environments, Apps: []appRole{}}
	for k, role := range c.p.Roles.Apps {
		out.Apps = append(out.Apps, appRole{k.Namespace, k.Name, role})
	}
	sort.Slice(out.Apps, func(i, j int) bool {
		return out.Apps[i].Namespace+"/"+out.Apps[i].Name < out.Apps[j].Namespace+"/"+out.Apps[j].Name
	})
	return out, nil
}

type tokenRequest struct {
	// Name says what the token is for, e.g. "github-actions".
	Name string `json:"name"`
	// ExpiresIn is a duration such as 720h or 30d; empty means 90 days
	// (or the site's cap, if shorter); "never" means no expiry, allowed
	// only where the site sets no cap (TOKEN_MAX_TTL=none).
	ExpiresIn string `json:"expiresIn,omitempty"`
}

type newToken struct {
	Token store.Token `json:"info"`
	// Secret is the token; it is shown only in this response.
	Secret string `json:"token"`
}

// defaultTokenTTL applies when a request names no expiry.
const defaultTokenTTL = 90 * 24 * time.Hour

func (s *Server) listTokens(c *call) (any, error) { return s.Store.Tokens(c.ctx(), c.p.User.ID) }

func (s *Server) createToken(c *call) (any, error) {
	var req tokenRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Name) == "" {
		return nil, badRequest("name", "name is required: say what the token is for, e.g. \"ci\"")
	}
	ttl, err := s.tokenTTL(req.ExpiresIn)
	if err != nil {
		return nil, err
	}
	secret, tok, err := s.Auth.IssueToken(c.ctx(), c.p.User.ID, req.Name, ttl)
	if err != nil {
		return nil, err
	}
	return newToken{Token: tok, Secret: secret}, nil
}

// tokenTTL reads a token request's expiresIn under the site's cap; 0
// means no expiry.
func (s *Server) tokenTTL(expiresIn string) (time.Duration, error) {
	ttl := defaultTokenTTL
	if s.TokenMaxTTL > 0 {
		ttl = min(ttl, s.TokenMaxTTL)
	}
	switch expiresIn {
	case "":
	case "never":
		if s.TokenMaxTTL > 0 {
			return 0, badRequest("expiresIn", "expiresIn=\"never\": this site caps API tokens at %s; ask for at most that, e.g. \"%s\"", days(s.TokenMaxTTL), days(s.TokenMaxTTL))
		}
		ttl = 0
	default:
		d, err := time.ParseDuration(expiresIn)
		if err != nil {
			d, err = config.ParseTTL(expiresIn) // 30d
		}
		if err != nil || d <= 0 {
			return 0, badRequest("expiresIn", "expiresIn=%q: want a duration such as 24h, 720h or 30d, or \"never\"", expiresIn)
		}
		if s.TokenMaxTTL > 0 && d > s.TokenMaxTTL {
			return 0, badRequest("expiresIn", "expiresIn=%q: this site caps API tokens at %s; ask for at most that", expiresIn, days(s.TokenMaxTTL))
		}
		ttl = d
	}
	return ttl, nil
}

// days writes a cap the way TOKEN_MAX_TTL takes it.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

func (s *Server) revokeToken(c *call) (any, error) {
	id, err := strconv.ParseInt(c.path("id"), 10, 64)
	if err != nil {
		return nil, badRequest("id", "the token id must be a number")
	}
	return nil, s.Store.RevokeToken(c.ctx(), c.p.User.ID, id)
}

type environment struct {
	Namespace string `json:"namespace"`
	// Role is yours there; empty when you see it through an app role or
	// as a site admin.
	Role string `json:"role,omitempty"`
}

func (s *Server) listEnvironments(c *call) (any, error) {
	seen := map[string]string{}
	for ns, role := range c.p.Roles.Environments {
		seen[ns] = role
	}
	for k := range c.p.Roles.Apps {
		if _, ok := seen[k.Namespace]; !ok {
			seen[k.Namespace] = ""
		}
	}
	if c.p.User.SiteAdmin {
		nss, err := s.Store.RoleNamespaces(c.ctx())
		if err != nil {
			return nil, err
		}
		for _, ns := range nss {
			if _, ok := seen[ns]; !ok {
				seen[ns] = ""
			}
		}
		for _, a := range s.Catalog.Apps() {
			if _, ok := seen[a.Namespace]; !ok {
				seen[a.Namespace] = ""
			}
		}
	}
	out := []environment{}
	for ns, role := range seen {
		out = append(out, environment{ns, role})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out, nil
}

type roleRequest struct {
	// Role is Admin or User on an environment, Owner or Maintainer on an app.
	Role string `json:"role"`
}

func (c *call) email() (string, error) {
	addr, err := mail.ParseAddress(c.path("email"))
	if err != nil || addr.Name != "" {
		return "", badRequest("email", "%q is not an email address", c.path("email"))
	}
	return strings.ToLower(addr.Address), nil
}

// member reads a grant: the email in the path and the role in the body,
// which valid must accept (hint says which roles are).
func (c *call) member(valid func(string) bool, hint string) (email, role string, err error) {
	if email, err = c.email(); err != nil {
		return "", "", err
	}
	var req roleRequest
	if err := c.decode(&req); err != nil {
		return "", "", err
	}
	if !valid(req.Role) {
		return "", "", badRequest("role", "role %q: %s", req.Role, hint)
	}
	return email, req.Role, nil
}

func (s *Server) environmentMembers(c *call) (any, error) {
	ns := c.path("namespace")
	if err := c.p.Check(authz.ViewEnvironment, ns, ""); err != nil {
		return nil, err
	}
	return s.Store.EnvironmentMembers(c.ctx(), ns)
}

func (s *Server) setEnvironmentMember(c *call) (any, error) {
	ns := c.path("namespace")
	if err := c.p.Check(authz.ManageEnvironment, ns, ""); err != nil {
		return nil, err
	}
	email, role, err := c.member(authz.ValidEnvironmentRole, "an environment role is Admin or User")
	if err != nil {
		return nil, err
	}
	if err := s.notTenantNamespace(c.ctx(), ns); err != nil {
		return nil, err
	}
	return nil, s.Store.SetEnvironmentRole(c.ctx(), ns, email, role)
}

// notTenantNamespace refuses to change roles on a tenant's namespace
// directly: its Tenant's members are its roles (the tenant mirror would
// undo the change at the Tenant's next event), so the Tenant is where to
// change them.
func (s *Server) notTenantNamespace(ctx context.Context, namespace string) error {
	if s.Kube == nil {
		return nil
	}
	ns := &corev1.Namespace{}
	if err := s.Kube.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return client.IgnoreNotFound(err)
	}
	if tenant := ns.Labels[platformv1.LabelTenant]; tenant != "" {
		return &Error{Status: http.StatusConflict, Field: "namespace",
			Message: "namespace " + namespace + " belongs to tenant " + tenant + ": its roles are the tenant's members; change them with PUT /api/v1/tenants/" + tenant}
	}
	return nil
}

func (s *Server) removeEnvironmentMember(c *call) (any, error) {
	ns := c.path("namespace")
	if err := c.p.Check(authz.ManageEnvironment, ns, ""); err != nil {
		return nil, err
	}
	email, err := c.email()
	if err != nil {
		return nil, err
	}
	if err := s.notTenantNamespace(c.ctx(), ns); err != nil {
		return nil, err
	}
	return nil, s.Store.RemoveEnvironmentRole(c.ctx(), ns, email)
}

func (s *Server) appMembers(c *call) (any, error) {
	key, err := s.visibleApp(c, authz.ViewApp)
	if err != nil {
		return nil, err
	}
	return s.Store.AppMembers(c.ctx(), key)
}

func (s *Server) setAppMember(c *call) (any, error) {
	key, err := s.visibleApp(c, authz.ManageAppMembers)
	if err != nil {
		return nil, err
	}
	email, role, err := c.member(authz.ValidAppRole, "an app role is Owner or Maintainer")
	if err != nil {
		return nil, err
	}
	// A role is granted on the app that exists now, and ends with it.
	a, err := s.loadApp(c.ctx(), key)
	if err != nil {
		return nil, err
	}
	return nil, s.Store.GrantAppRole(c.ctx(), key, string(a.UID), email, role)
}

func (s *Server) removeAppMember(c *call) (any, error) {
	key, err := s.visibleApp(c, authz.ManageAppMembers)
	if err != nil {
		return nil, err
	}
	email, err := c.email()
	if err != nil {
		return nil, err
	}
	return nil, s.Store.RemoveAppRole(c.ctx(), key, email)
}
