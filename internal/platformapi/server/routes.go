package server

import (
	"net/http"

	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/costs"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// route is one endpoint: its handler and its OpenAPI description come
// from here, and nowhere else.
type route struct {
	method, path, summary, tag string
	// public routes need no principal; all others answer 401 without one.
	public bool
	// principal, if set, authenticates this route's callers instead of
	// Auth.Principal: a route that also takes a credential of its own (the
	// Backstage reader token, valid nowhere else).
	principal func(*http.Request) (*authz.Principal, error)
	// action is the authz.Action the handler checks (documented; the role
	// matrix test calls every route as every role).
	action authz.Action
	// ci routes may be called by a CI job (authz.CI); every other route
	// answers it 403.
	ci     bool
	query  []param
	in     any // request body sample, or nil
	out    any // response body sample, or nil
	status int // success status [200]
	// stream routes answer text/event-stream; raw handlers write their own
	// response (health, the document, the sign-in redirects).
	stream bool
	raw    func(*call)
	handle func(*call) (any, error)
}

type param struct{ name, description string }

func (r route) success() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

func (s *Server) routes() []route {
	const (
		tagApps    = "apps"
		tagTasks   = "tasks"
		tagAccess  = "access"
		tagStream  = "events"
		tagService = "service"
		tagTenants = "tenants"
		// tagBackstage: the export for Backstage's catalog.
		tagBackstage = "backstage"
	)
	return []route{
		{method: "GET", path: "/healthz", summary: "The process is alive.", tag: tagService, public: true, raw: s.healthz},
		{method: "GET", path: "/readyz", summary: "The database, the cluster cache and the change feed are ready.", tag: tagService, public: true, raw: s.readyz},
		{method: "GET", path: "/openapi.json", summary: "This document.", tag: tagService, public: true, raw: s.openAPI},
		{method: "GET", path: authn.LoginPath, summary: "Sign in through the identity provider (authorization code with PKCE).", tag: tagAccess, public: true,
			query: []param{{"return_to", "a path on this site to return to"}}, raw: func(c *call) { s.Auth.Login(c.w, c.r) }},
		{method: "GET", path: authn.CallbackPath, summary: "The identity provider's redirect back; opens a session.", tag: tagAccess, public: true,
			query: []param{{"code", "authorization code"}, {"state", "sign-in state"}}, raw: func(c *call) { s.Auth.Callback(c.w, c.r) }},
		{method: "POST", path: authn.LogoutPath, summary: "Sign out.", tag: tagAccess, public: true, raw: func(c *call) { s.Auth.Logout(c.w, c.r) }},

		{method: "GET", path: "/api/v1/me", summary: "Who you are and your roles.", tag: tagAccess, out: me{}, handle: s.me},
		{method: "GET", path: "/api/v1/tokens", summary: "Your API tokens (never the tokens themselves).", tag: tagAccess, out: []store.Token{}, handle: s.listTokens},
		{method: "POST", path: "/api/v1/tokens", summary: "Create an API token; it is shown once.", tag: tagAccess, in: tokenRequest{}, out: newToken{}, status: http.StatusCreated, handle: s.createToken},
		{method: "DELETE", path: "/api/v1/tokens/{id}", summary: "Revoke one of your tokens.", tag: tagAccess, status: http.StatusNoContent, handle: s.revokeToken},

		{method: "GET", path: "/api/v1/environments", summary: "Environments (namespaces holding apps) you have a role in.", tag: tagAccess, out: []environment{}, handle: s.listEnvironments},
		{method: "GET", path: "/api/v1/environments/{namespace}/members", summary: "Members of an environment.", tag: tagAccess, action: authz.ViewEnvironment, out: []store.Member{}, handle: s.environmentMembers},
		{method: "PUT", path: "/api/v1/environments/{namespace}/members/{email}", summary: "Grant an environment role (Admin or User).", tag: tagAccess, action: authz.ManageEnvironment, in: roleRequest{}, status: http.StatusNoContent, handle: s.setEnvironmentMember},
		{method: "DELETE", path: "/api/v1/environments/{namespace}/members/{email}", summary: "Take an environment role away.", tag: tagAccess, action: authz.ManageEnvironment, status: http.StatusNoContent, handle: s.removeEnvironmentMember},

		{method: "GET", path: "/api/v1/apps", summary: "Apps you may see, with live status.", tag: tagApps, action: authz.ViewApp,
			query: []param{{"namespace", "only this namespace"}, {"environment", "only this environment (staging, uat, production, preview)"},
				{"phase", "only this phase"}, {"q", "name contains"}, {"limit", "page size [100, at most 1000]"}, {"continue", "the previous page's continue token"}},
			out: appList{}, handle: s.listApps},
		{method: "POST", path: "/api/v1/apps", summary: "Create an app: records an Install task.", tag: tagApps, action: authz.CreateApp, in: createAppRequest{}, out: store.Task{}, status: http.StatusAccepted, handle: s.createApp},
		{method: "GET", path: "/api/v1/apps/{namespace}/{name}", summary: "One app with its status and conditions.", tag: tagApps, action: authz.ViewApp, ci: true, out: app{}, handle: s.getApp},
		{method: "POST", path: "/api/v1/apps/{namespace}/{name}/deploy", summary: "Run a new image (spec.imageRef only): records an Upgrade task. GitHub Actions jobs may call it with their OIDC ID token.", tag: tagApps, action: authz.DeployApp, ci: true, in: deployRequest{}, out: store.Task{}, status: http.StatusAccepted, handle: s.deployApp},
		{method: "PUT", path: "/api/v1/apps/{namespace}/{name}", summary: "Replace an app's spec: records an Upgrade task with the diff.", tag: tagApps, action: authz.OperateApp, in: updateAppRequest{}, out: store.Task{}, status: http.StatusAccepted, handle: s.updateApp},
		{method: "DELETE", path: "/api/v1/apps/{namespace}/{name}", summary: "Delete an app: records an Uninstall task.", tag: tagApps, action: authz.DeleteApp, query: []param{{"executeAt", "RFC 3339 time to run it at"}}, out: store.Task{}, status: http.StatusAccepted, handle: s.deleteApp},
		{method: "POST", path: "/api/v1/apps/{namespace}/{name}/restart", summary: "Restart the app's pods: records a RestartK8sResource task.", tag: tagApps, action: authz.OperateApp, in: scheduleRequest{}, out: store.Task{}, status: http.StatusAccepted, handle: s.restartApp},
		{method: "POST", path: "/api/v1/apps/{namespace}/{name}/reinstall", summary: "Apply the app's spec again: records a Reinstall task.", tag: tagApps, action: authz.OperateApp, in: reinstallRequest{}, out: store.Task{}, status: http.StatusAccepted, handle: s.reinstallApp},
		{method: "POST", path: "/api/v1/apps/{namespace}/{name}/recreate", summary: "Move the app to another namespace: records a Recreate task.", tag: tagApps, action: authz.DeleteApp, in: recreateRequest{}, out: store.Task{}, status: http.StatusAccepted, handle: s.recreateApp},
		{method: "GET", path: "/api/v1/apps/{namespace}/{name}/actions", summary: "The actions the app declares.", tag: tagApps, action: authz.ViewApp, out: []actionView{}, handle: s.listActions},
		{method: "POST", path: "/api/v1/apps/{namespace}/{name}/actions/{action}", summary: "Invoke a declared action: records an InvokeAction task.", tag: tagApps, action: authz.OperateApp, in: scheduleRequest{}, out: store.Task{}, status: http.StatusAccepted, handle: s.invokeAction},
		{method: "GET", path: "/api/v1/apps/{namespace}/{name}/resources", summary: "The Kubernetes objects the app owns, with a status colour, kept current by watching.", tag: tagApps, action: authz.ViewApp, out: []store.Resource{}, handle: s.appResources},
		{method: "POST", path: "/api/v1/apps/{namespace}/{name}/previews", summary: "Create a preview of the app for a pull request: records an InvokeAction task.", tag: tagApps, action: authz.PreviewApp, ci: true, in: previewRequest{}, out: store.Task{}, status: http.StatusAccepted, handle: s.createPreview},
		{method: "DELETE", path: "/api/v1/apps/{namespace}/{name}/previews/{preview}", summary: "Delete one of the app's previews: records an InvokeAction task.", tag: tagApps, action: authz.PreviewApp, ci: true, out: store.Task{}, status: http.StatusAccepted, handle: s.deletePreview},
		{method: "GET", path: "/api/v1/apps/{namespace}/{name}/logs", summary: "The last lines (tailLines, 200) of the app container of each pod, as text.", tag: tagApps, action: authz.ViewApp,
			query: []param{{"tailLines", "lines per pod [200, at most 5000]"}}, raw: s.appLogs},
		{method: "GET", path: "/api/v1/apps/{namespace}/{name}/tasks", summary: "The app's history, newest first.", tag: tagTasks, action: authz.ViewApp, query: []param{{"limit", "how many [50, at most 500]"}, {"retired", "true: also the tasks of deleted apps of this name (site admins) [false]"}}, out: []store.Task{}, handle: s.appTasks},
		{method: "GET", path: "/api/v1/apps/{namespace}/{name}/members", summary: "Members of an app.", tag: tagAccess, action: authz.ViewApp, out: []store.Member{}, handle: s.appMembers},
		{method: "PUT", path: "/api/v1/apps/{namespace}/{name}/members/{email}", summary: "Grant an app role (Owner or Maintainer).", tag: tagAccess, action: authz.ManageAppMembers, in: roleRequest{}, status: http.StatusNoContent, handle: s.setAppMember},
		{method: "DELETE", path: "/api/v1/apps/{namespace}/{name}/members/{email}", summary: "Take an app role away.", tag: tagAccess, action: authz.ManageAppMembers, status: http.StatusNoContent, handle: s.removeAppMember},
		{method: "GET", path: "/api/v1/tasks/{id}", summary: "One task.", tag: tagTasks, action: authz.ViewApp, ci: true, out: store.Task{}, handle: s.getTask},
		{method: "POST", path: "/api/v1/tasks/{id}/cancel", summary: "Cancel a task that has not started.", tag: tagTasks, action: authz.OperateApp, out: store.Task{}, handle: s.cancelTask},
		{method: "GET", path: "/api/v1/tenants", summary: "Tenants you are a member of (all, for site admins).", tag: tagTenants, out: []tenantView{}, handle: s.listTenants},
		{method: "POST", path: "/api/v1/tenants", summary: "Create a tenant (self-service): its namespaces, quota, limits, network policy and team roles. You become its Admin.", tag: tagTenants, in: tenantRequest{}, out: tenantView{}, status: http.StatusCreated, handle: s.createTenant},
		{method: "GET", path: "/api/v1/tenants/{name}", summary: "One tenant with its status, read back from the cluster.", tag: tagTenants, out: tenantView{}, handle: s.getTenant},
		{method: "PUT", path: "/api/v1/tenants/{name}", summary: "Change a tenant's members, environments or quota (its Admins).", tag: tagTenants, action: authz.ManageTenant, in: tenantRequest{}, out: tenantView{}, handle: s.updateTenant},
		{method: "DELETE", path: "/api/v1/tenants/{name}", summary: "Delete a tenant and its namespaces (its Admins).", tag: tagTenants, action: authz.ManageTenant, status: http.StatusNoContent, handle: s.deleteTenant},
		{method: "GET", path: "/api/v1/costs/summary", summary: "Cost per tenant and app over a period: sampled requested CPU and memory × the price table.", tag: tagTenants,
			query: []param{{"from", "start, RFC 3339 or YYYY-MM-DD [30 days ago]"}, {"to", "end, exclusive [now]"}}, out: costs.Summary{}, handle: s.costSummary},
		{method: "GET", path: "/api/v1/clusters", summary: "The clusters the platform manages: version, nodes, health (site admins).", tag: tagService, action: authz.SiteAdmin, out: []cluster{}, handle: s.listClusters},
		{method: "GET", path: "/api/v1/backstage/entities", summary: "The catalog as Backstage entities (docs/BACKSTAGE.md): apps as Components, their databases and buckets as Resources, their APIs, tenants as Groups and Systems; what you may see, or everything with a Backstage reader token.", tag: tagBackstage, action: authz.ViewApp,
			query: []param{{"limit", "apps and owners per page, each with its Resources and APIs [100, at most 1000]"}, {"continue", "the previous page's continue token"}}, principal: s.catalogPrincipal, out: entityList{}, handle: s.backstageEntities},
		{method: "GET", path: "/api/v1/backstage/tokens", summary: "The Backstage reader tokens (site admins; never the tokens themselves).", tag: tagBackstage, action: authz.SiteAdmin, out: []store.Token{}, handle: s.listCatalogTokens},
		{method: "POST", path: "/api/v1/backstage/tokens", summary: "Issue a Backstage reader token (site admins): it reads GET /api/v1/backstage/entities, all of it, and nothing else; it is shown once.", tag: tagBackstage, action: authz.SiteAdmin, in: tokenRequest{}, out: newToken{}, status: http.StatusCreated, handle: s.createCatalogToken},
		{method: "DELETE", path: "/api/v1/backstage/tokens/{id}", summary: "Revoke a Backstage reader token (site admins).", tag: tagBackstage, action: authz.SiteAdmin, status: http.StatusNoContent, handle: s.revokeCatalogToken},
		{method: "GET", path: "/api/v1/events", summary: "Server-sent events of every change you may see; resume with Last-Event-ID.", tag: tagStream, action: authz.ViewApp,
			query: []param{{"lastEventId", "resume after this event id (or send the Last-Event-ID header)"}}, stream: true, raw: s.events},
	}
}

// RouteInfo describes a route for tests and tools.
type RouteInfo struct {
	Method, Path string
	Public       bool
	// Action is the permission checked; empty for routes open to any
	// signed-in user (their own tokens, roles and environments).
	Action authz.Action
	Stream bool
	// CI says a GitHub Actions job may call it.
	CI bool
}

// Routes lists every route the handler serves.
func (s *Server) Routes() []RouteInfo {
	var out []RouteInfo
	for _, r := range s.routes() {
		out = append(out, RouteInfo{Method: r.method, Path: r.path, Public: r.public, Action: r.action, Stream: r.stream, CI: r.ci})
	}
	return out
}
