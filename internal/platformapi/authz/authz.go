// Package authz decides who may do what, as in Platz: site admins may do
// everything; per environment (a namespace holding apps) a user is Admin or
// User; per app a user is Owner or Maintainer. Every API route names the
// Action it needs, and a denial names the roles that would allow it.
package authz

import (
	"fmt"
	"slices"
	"strings"

	"github.com/plattr/plattr/internal/platformapi/store"
)

// Environment and app roles.
const (
	EnvAdmin      = "Admin"
	EnvUser       = "User"
	AppOwner      = "Owner"
	AppMaintainer = "Maintainer"
	RoleSiteAdmin = "site admin"
)

// Action is something a route does.
type Action string

const (
	// ViewApp: see an app, its history, resources and events.
	ViewApp Action = "view the app"
	// CreateApp: install a new app in an environment.
	CreateApp Action = "create apps in the environment"
	// OperateApp: upgrade, reinstall, restart, invoke actions, cancel tasks.
	OperateApp Action = "change or operate the app"
	// DeleteApp: uninstall or move the app.
	DeleteApp Action = "delete or move the app"
	// ManageAppMembers: grant and take away app roles.
	ManageAppMembers Action = "manage the app's members"
	// ViewEnvironment: list an environment's members.
	ViewEnvironment Action = "view the environment"
	// ManageEnvironment: grant and take away environment roles.
	ManageEnvironment Action = "manage the environment's members"
	// ManageTenant: change or delete a tenant (Admin of its namespaces).
	ManageTenant Action = "manage the tenant"
	// SiteAdmin: platform-wide settings.
	SiteAdmin Action = "administer the platform"
)

// who may do each action, besides site admins.
var allowed = map[Action]struct{ env, app []string }{
	ViewApp:           {env: []string{EnvAdmin, EnvUser}, app: []string{AppOwner, AppMaintainer}},
	CreateApp:         {env: []string{EnvAdmin, EnvUser}},
	OperateApp:        {env: []string{EnvAdmin}, app: []string{AppOwner, AppMaintainer}},
	DeleteApp:         {env: []string{EnvAdmin}, app: []string{AppOwner}},
	ManageAppMembers:  {env: []string{EnvAdmin}, app: []string{AppOwner}},
	ViewEnvironment:   {env: []string{EnvAdmin, EnvUser}},
	ManageEnvironment: {env: []string{EnvAdmin}},
	ManageTenant:      {env: []string{EnvAdmin}},
	SiteAdmin:         {},
}

// Principal is the signed-in user and their grants.
type Principal struct {
	User  store.User
	Roles store.Roles
	// CI is set for a GitHub Actions job (User and Roles are empty then).
	CI *CI
}

// Denied says which role was missing (HTTP 403).
type Denied struct {
	Action Action
	Need   []string
}

func (d *Denied) Error() string {
	return fmt.Sprintf("you may not %s: this needs %s", d.Action, strings.Join(d.Need, ", or "))
}

// Can reports whether p may do a on app (name may be empty for actions on
// a whole environment).
func (p *Principal) Can(a Action, namespace, name string) bool {
	return p.Check(a, namespace, name) == nil
}

// Check returns nil when p may do a, or a *Denied naming the roles that
// would allow it.
func (p *Principal) Check(a Action, namespace, name string) error {
	if p.CI != nil {
		return p.checkCI(a, namespace, name)
	}
	if p.User.SiteAdmin {
		return nil
	}
	rule, ok := allowed[a]
	if !ok {
		return &Denied{Action: a, Need: []string{RoleSiteAdmin}}
	}
	if role, ok := p.Roles.Environments[namespace]; ok && slices.Contains(rule.env, role) {
		return nil
	}
	if name != "" {
		if role, ok := p.Roles.Apps[store.AppKey{Namespace: namespace, Name: name}]; ok && slices.Contains(rule.app, role) {
			return nil
		}
	}
	var need []string
	if len(rule.app) > 0 && name != "" {
		need = append(need, fmt.Sprintf("role %s on app %s/%s", strings.Join(rule.app, " or "), namespace, name))
	}
	if len(rule.env) > 0 {
		need = append(need, fmt.Sprintf("role %s on environment %s", strings.Join(rule.env, " or "), namespace))
	}
	return &Denied{Action: a, Need: append(need, RoleSiteAdmin)}
}

// SeesNamespace reports whether p has any role in namespace (apps listed
// there may still be filtered by app role).
func (p *Principal) SeesNamespace(namespace string) bool {
	if p.CI != nil {
		for k := range p.CI.Apps {
			if k.Namespace == namespace {
				return true
			}
		}
		return false
	}
	if p.User.SiteAdmin {
		return true
	}
	if _, ok := p.Roles.Environments[namespace]; ok {
		return true
	}
	for k := range p.Roles.Apps {
		if k.Namespace == namespace {
			return true
		}
	}
	return false
}

// ValidEnvironmentRole and ValidAppRole check a role name from a request.
func ValidEnvironmentRole(r string) bool { return r == EnvAdmin || r == EnvUser }

// ValidAppRole checks an app role name.
func ValidAppRole(r string) bool { return r == AppOwner || r == AppMaintainer }

// Allows reports whether an environment role or app role (either may be
// empty) allows a, for tests and the portal's buttons.
func Allows(a Action, envRole, appRole string) bool {
	rule := allowed[a]
	return (envRole != "" && slices.Contains(rule.env, envRole)) || (appRole != "" && slices.Contains(rule.app, appRole))
}
