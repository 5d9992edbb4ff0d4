package platformapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/server"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// matrix is the role model written out (Platz's): who besides site admins
// may do each action on app team-b/matrix. It is spelled out here rather
// than read from authz, so a change there must change this too.
var matrix = map[authz.Action][]string{
	authz.ViewApp:           {"env-user", "env-admin", "app-maintainer", "app-owner"},
	authz.CreateApp:         {"env-user", "env-admin"},
	authz.OperateApp:        {"env-admin", "app-maintainer", "app-owner"},
	authz.DeleteApp:         {"env-admin", "app-owner"},
	authz.ManageAppMembers:  {"env-admin", "app-owner"},
	authz.ViewEnvironment:   {"env-user", "env-admin"},
	authz.ManageEnvironment: {"env-admin"},
	authz.DeployApp:         {"env-admin", "app-maintainer", "app-owner", "ci-job"},
	authz.PreviewApp:        {"env-admin", "app-maintainer", "app-owner", "ci-job"},
}

// ciRoutes are all a CI job (a GitHub Actions token of the app's
// repository) may call: deploy, and read back its app and tasks.
var ciRoutes = []string{
	"GET /api/v1/apps/{namespace}/{name}",
	"POST /api/v1/apps/{namespace}/{name}/deploy",
	"GET /api/v1/tasks/{id}",
	"POST /api/v1/apps/{namespace}/{name}/previews",
	"DELETE /api/v1/apps/{namespace}/{name}/previews/{preview}",
}

type persona struct {
	name             string
	envRole, appRole string // on team-b and team-b/matrix
	site             bool
	anonymous        bool
	ci               bool
	// reader is a Backstage reader token: the export, nothing else.
	reader bool
	c      *caller
}

// Every route, called as every role: allowed calls pass the role check,
// the others get 403 naming the missing role (401 without credentials).
// A user with roles only in team-c (another tenant) sees and changes
// nothing of team-b.
func TestRoleMatrixOverEveryRoute(t *testing.T) {
	ctx := context.Background()
	adminC := admin(t)
	install := createApp(t, adminC, "team-b", "matrix", "registry.example.com/matrix:1")
	waitTask(t, adminC, install.ID, store.TaskDone)
	app := store.AppKey{Namespace: "team-b", Name: "matrix"}

	people := []*persona{
		{name: "anonymous", anonymous: true, c: &caller{base: apiA.URL}},
		{name: "outsider", c: asUser(t, "outsider@plattr.test")},
		{name: "env-user", envRole: authz.EnvUser, c: asUser(t, "env-user@plattr.test")},
		{name: "env-admin", envRole: authz.EnvAdmin, c: asUser(t, "env-admin@plattr.test")},
		{name: "app-maintainer", appRole: authz.AppMaintainer, c: asUser(t, "maintainer@plattr.test")},
		{name: "app-owner", appRole: authz.AppOwner, c: asUser(t, "owner@plattr.test")},
		{name: "other-tenant-admin", c: asUser(t, "tenant-c-admin@plattr.test")},
		{name: "site-admin", site: true, c: adminC},
		// spec() names github.com/example/web.
		{name: "ci-job", ci: true, c: ciAs(job("example/web", "refs/heads/feature"))},
		{name: "other-repo-ci-job", ci: true, c: ciAs(job("example/web-evil", "refs/heads/main"))},
		{name: "backstage-reader", reader: true},
	}
	people[len(people)-1].c, _ = issueReaderToken(t, adminC, "matrix")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.SetEnvironmentRole(ctx, "team-b", "env-user@plattr.test", authz.EnvUser))
	must(db.SetEnvironmentRole(ctx, "team-b", "env-admin@plattr.test", authz.EnvAdmin))
	must(db.SetAppRole(ctx, app, "maintainer@plattr.test", authz.AppMaintainer))
	must(db.SetAppRole(ctx, app, "owner@plattr.test", authz.AppOwner))
	must(db.SetEnvironmentRole(ctx, "team-c", "tenant-c-admin@plattr.test", authz.EnvAdmin))

	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	pendingTask := func() int64 {
		task, err := db.CreateTask(ctx, store.NewTask{Namespace: "team-b", App: "matrix", Operation: store.OpReinstall, Actor: siteAdmin,
			Request: map[string]any{}, ExecuteAt: ptr(time.Now().Add(time.Hour))})
		must(err)
		return task.ID
	}
	bodies := map[string]any{
		"POST /api/v1/apps":                                     map[string]any{"namespace": "team-b", "name": "matrix", "spec": spec("x:1")},
		"PUT /api/v1/apps/{namespace}/{name}":                   map[string]any{"spec": spec("registry.example.com/matrix:2"), "executeAt": later},
		"POST /api/v1/apps/{namespace}/{name}/restart":          map[string]any{"executeAt": later},
		"POST /api/v1/apps/{namespace}/{name}/reinstall":        map[string]any{"executeAt": later},
		"POST /api/v1/apps/{namespace}/{name}/recreate":         map[string]any{"toNamespace": "team-c", "executeAt": later},
		"POST /api/v1/apps/{namespace}/{name}/actions/{action}": map[string]any{"executeAt": later},
		"PUT /api/v1/apps/{namespace}/{name}/members/{email}":   map[string]any{"role": "Maintainer"},
		"PUT /api/v1/environments/{namespace}/members/{email}":  map[string]any{"role": "User"},
		"POST /api/v1/tokens":                                   map[string]any{"name": "matrix"},
		"POST /api/v1/apps/{namespace}/{name}/deploy":           map[string]any{"imageRef": "registry.example.com/matrix:3", "executeAt": later},
	}

	routes := (&server.Server{}).Routes()
	checked := 0
	for _, rt := range routes {
		if rt.Public {
			continue
		}
		pattern := rt.Method + " " + rt.Path
		for _, p := range people {
			path := strings.NewReplacer("{namespace}", "team-b", "{name}", "matrix", "{email}", "member@plattr.test",
				"{action}", "rotate-database-credentials", "{preview}", "matrix-pr-1").Replace(rt.Path)
			if strings.Contains(path, "/tasks/{id}") {
				path = strings.Replace(path, "{id}", fmt.Sprint(pendingTask()), 1)
			}
			if strings.Contains(path, "/tokens/{id}") {
				path = strings.Replace(path, "{id}", "999999", 1)
			}
			if rt.Method == "DELETE" && rt.Path == "/api/v1/apps/{namespace}/{name}" {
				path += "?executeAt=" + later
			}
			scoped := strings.Contains(rt.Path, "{namespace}") || strings.Contains(rt.Path, "/tasks/{id}")
			allowed := p.site || rt.Action == "" || !scoped || slices.Contains(matrix[rt.Action], p.name)
			if pattern == "POST /api/v1/apps" {
				allowed = p.site || slices.Contains(matrix[authz.CreateApp], p.name)
			}
			if strings.HasPrefix(rt.Path, "/api/v1/tenants/{name}") {
				// A tenant none of them belongs to: only a site admin may see
				// or change it (members are tested in the tenant test).
				path = strings.Replace(rt.Path, "{name}", "nobodys-tenant", 1)
				allowed = p.site
			}
			if rt.Action == authz.SiteAdmin {
				allowed = p.site // the cluster report
			}
			if strings.HasSuffix(rt.Path, "/recreate") {
				allowed = p.site // also needs CreateApp on team-c, which no one with team-b roles has
			}
			if p.ci {
				// Only its own app's deploy and reads, whatever the action.
				allowed = p.name == "ci-job" && slices.Contains(ciRoutes, pattern)
				if rt.CI != slices.Contains(ciRoutes, pattern) {
					t.Errorf("%s: CI-callable is %t, the matrix says otherwise", pattern, rt.CI)
				}
			}
			var code int
			var body string
			if rt.Stream {
				code = streamStatus(t, p.c, path)
			} else {
				code, body = p.c.do(t, rt.Method, path, bodies[pattern], nil)
			}
			switch {
			case p.reader:
				// Its token is no credential anywhere else.
				if want := map[bool]int{true: 200, false: 401}[pattern == "GET /api/v1/backstage/entities"]; code != want {
					t.Errorf("%s as %s: HTTP %d, want %d: %s", pattern, p.name, code, want, body)
				}
			case p.anonymous:
				if code != 401 {
					t.Errorf("%s as %s: HTTP %d, want 401", pattern, p.name, code)
				}
			case allowed:
				if code == 401 || code == 403 || code >= 500 {
					t.Errorf("%s as %s: HTTP %d, want allowed: %s", pattern, p.name, code, body)
				}
			default:
				if code != 403 {
					t.Errorf("%s as %s: HTTP %d, want 403: %s", pattern, p.name, code, body)
				} else if !rt.Stream && !strings.Contains(body, "needs role") && !strings.Contains(body, "needs membership") && !strings.Contains(body, "needs site admin") {
					t.Errorf("%s as %s: the denial does not name the role: %s", pattern, p.name, body)
				}
			}
			checked++
		}
	}
	if checked < 25*len(people) {
		t.Fatalf("only %d calls checked", checked)
	}

	// What each sees: team-c's admin sees none of team-b's apps, team-b's
	// user sees them.
	var list struct {
		Items []struct{ Namespace, Name string }
	}
	people[6].c.must(t, 200, "GET", "/api/v1/apps", nil, &list)
	for _, a := range list.Items {
		if a.Namespace == "team-b" {
			t.Fatalf("another tenant's admin sees %s/%s", a.Namespace, a.Name)
		}
	}
	people[2].c.must(t, 200, "GET", "/api/v1/apps?namespace=team-b", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Name != "matrix" {
		t.Fatalf("team-b's user sees %+v", list.Items)
	}
	var envs []struct{ Namespace, Role string }
	people[6].c.must(t, 200, "GET", "/api/v1/environments", nil, &envs)
	if len(envs) != 1 || envs[0].Namespace != "team-c" || envs[0].Role != "Admin" {
		t.Fatalf("team-c admin's environments = %+v", envs)
	}
	// Nothing the denied calls asked for happened: the only tasks on the
	// app are the install and what allowed callers scheduled.
	var actors []string
	rows, err := db.Pool.Query(ctx, "SELECT DISTINCT actor FROM tasks WHERE namespace = 'team-b' AND app = 'matrix'")
	must(err)
	for rows.Next() {
		var a string
		must(rows.Scan(&a))
		actors = append(actors, a)
	}
	rows.Close()
	for _, a := range actors {
		if a == "outsider@plattr.test" || a == "env-user@plattr.test" || a == "tenant-c-admin@plattr.test" || strings.Contains(a, "web-evil") {
			t.Errorf("%s, who may not operate the app, recorded a task", a)
		}
	}
	// A grant names its field when refused, and grants nothing.
	for path, hint := range map[string]string{
		"/api/v1/environments/team-b/members/bad@plattr.test": "Admin or User",
		"/api/v1/apps/team-b/matrix/members/bad@plattr.test":  "Owner or Maintainer",
	} {
		if code, body := adminC.do(t, "PUT", path, map[string]any{"role": "Boss"}, nil); code != 400 || !strings.Contains(body, `"field":"role"`) || !strings.Contains(body, hint) {
			t.Errorf("PUT %s role Boss: HTTP %d %s", path, code, body)
		}
	}
	if u, err := db.UserByEmail(ctx, "bad@plattr.test"); err == nil {
		if r, _ := db.RolesOf(ctx, u.ID); len(r.Environments)+len(r.Apps) != 0 {
			t.Errorf("a refused grant granted %+v", r)
		}
	}
	_, _ = db.Pool.Exec(ctx, "UPDATE tasks SET state = 'Canceled' WHERE namespace = 'team-b' AND state = 'Pending'")
}

func streamStatus(t *testing.T, c *caller, path string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func ptr[T any](v T) *T { return &v }
