package platformapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/costs"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/testenv"
)

// The portal, driven in a real headless Chromium (Debian's) through the
// real Dex sign-in. Screenshots go to $PLATTR_ARTIFACTS/portal, or
// artifacts/portal at the repository root.

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("Chromium is missing: make test-deps installs it")
	}
	t.Skip("Chromium is not installed (make test-deps installs it)")
	return ""
}

// browser starts a headless Chromium at 1280 px.
func browser(t *testing.T, width, height int64) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.WindowSize(int(width), int(height)),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PLATTR_ARTIFACTS")
	if dir == "" {
		root, err := testenv.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "artifacts")
	}
	dir = filepath.Join(dir, "portal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var buf []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&buf, 100)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artifacts(t), name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// axe runs axe-core (from the npm registry, web/node_modules) in the page
// and fails on serious or critical violations.
func axe(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	root, _ := testenv.RepoRoot()
	src, err := os.ReadFile(filepath.Join(root, "web", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is missing (make portal-assets installs it): %v", err)
	}
	var res string
	err = chromedp.Run(ctx,
		chromedp.Evaluate(string(src), nil),
		chromedp.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 3)}))))`,
			&res, func(p *runtimeEvaluateParams) *runtimeEvaluateParams { return p.WithAwaitPromise(true) }))
	if err != nil {
		t.Fatalf("axe on %s: %v", page, err)
	}
	var violations []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	if err := json.Unmarshal([]byte(res), &violations); err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s: accessibility (%s) %s: %s at %v", page, v.Impact, v.ID, v.Help, v.Nodes)
		} else {
			t.Logf("%s: accessibility (%s) %s: %s", page, v.Impact, v.ID, v.Help)
		}
	}
}

// signInDex goes from the portal through Dex's login form and back.
func signInDex(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Run(ctx,
		chromedp.Navigate(apiA.URL+"/"),
		chromedp.WaitVisible(`input[name="login"]`),
		chromedp.SendKeys(`input[name="login"]`, testenv.TestUserEmail),
		chromedp.SendKeys(`input[name="password"]`, testenv.TestUserPassword),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`#catalog table`),
	)
	if err != nil {
		t.Fatalf("signing in through Dex: %v", err)
	}
}

// asSession opens the portal as email, with a session made in the store
// (the Dex test user is one person; other roles need other people).
func asSession(t *testing.T, ctx context.Context, email string) {
	t.Helper()
	u, err := db.EnsureUser(context.Background(), email, false)
	if err != nil {
		t.Fatal(err)
	}
	secret := authn.NewSecret("")
	if err := db.CreateSession(context.Background(), u.ID, authn.Hash(secret), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		return network.SetCookie(authn.SessionCookie, secret).WithURL(apiA.URL).WithHTTPOnly(true).Do(ctx)
	}))
	if err != nil {
		t.Fatal(err)
	}
}

// textOf reads an element's text in one evaluation, waiting for it to
// exist: the page redraws parts of itself on every event, and a node
// looked up first and read after may be gone in between.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	q, _ := json.Marshal(sel)
	for {
		var s *string
		if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { const e = document.querySelector(`+string(q)+`); return e ? e.innerText : null; })()`, &s)); err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		if s != nil {
			return *s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("text of %s: %v", sel, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestPortalInChromium(t *testing.T) {
	ctx := browser(t, 1280, 900)
	c := admin(t)
	if err := db.SetEnvironmentRole(context.Background(), "team-a", testenv.TestUserEmail, authz.EnvAdmin); err != nil {
		t.Fatal(err)
	}
	install := createApp(t, c, "team-a", "portal-web", "registry.example.com/portal-web:1")
	waitTask(t, c, install.ID, store.TaskDone)
	waitPhase(t, c, "team-a", "portal-web", "Running")

	// Sign in through the real Dex form; the catalog lists the apps.
	signInDex(t, ctx)
	if cat := textOf(t, ctx, "#catalog"); !strings.Contains(cat, "portal-web") || !strings.Contains(cat, "Running") {
		t.Fatalf("catalog = %q", cat)
	}
	screenshot(t, ctx, "catalog")
	axe(t, ctx, "catalog")

	// The app page; a restart scheduled through the page's own API moves
	// from Pending to Done in the history without a reload.
	if err := chromedp.Run(ctx, chromedp.Navigate(apiA.URL+"/apps/team-a/portal-web"), chromedp.WaitVisible(`#history table`),
		chromedp.WaitVisible(`#resources table`)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DeploymentReady", "Restart", "registry.example.com/portal-web:1"} {
		if !strings.Contains(textOf(t, ctx, "main"), want) {
			t.Errorf("app page lacks %q", want)
		}
	}
	var clicked store.Task
	if err := chromedp.Run(ctx, chromedp.Click(`//button[text()="Restart"]`, chromedp.BySearch)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the restart recorded", func() error {
		ts, err := db.AppTasks(context.Background(), store.HistoryQuery{App: store.AppKey{Namespace: "team-a", Name: "portal-web"}, Limit: 1, Retired: true})
		if err != nil || len(ts) == 0 || ts[0].Operation != store.OpRestartK8sResource {
			return fmt.Errorf("%v %v", ts, err)
		}
		clicked = ts[0]
		return nil
	})
	waitRow := func(id int64, state string, within time.Duration) {
		t.Helper()
		sel := fmt.Sprintf(`#history tr[data-task="%d"]`, id)
		eventually(t, within, fmt.Sprintf("task %d %s on the page", id, state), func() error {
			var s string
			if err := chromedp.Run(ctx, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.AtLeast(0))); err != nil {
				return err
			}
			if !strings.Contains(s, state) {
				return fmt.Errorf("row: %q", s)
			}
			return nil
		})
	}
	waitRow(clicked.ID, "Done", 5*time.Second)
	var scheduled store.Task
	c.must(t, 202, "POST", "/api/v1/apps/team-a/portal-web/restart", map[string]any{"executeAt": time.Now().Add(2 * time.Second)}, &scheduled)
	waitRow(scheduled.ID, "Pending", 2*time.Second)
	waitRow(scheduled.ID, "Done", 10*time.Second)
	// A preview made from the page's form appears among the resources
	// without a reload, and under its app in the catalog.
	if err := chromedp.Run(ctx, chromedp.SendKeys(`#pr`, "7"), chromedp.SendKeys(`#pr-image`, "registry.example.com/portal-web:pr7"),
		chromedp.Click(`#preview button[type=submit]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the preview among the resources", func() error {
		if s := textOf(t, ctx, "#resources"); !strings.Contains(s, "portal-web-pr-7") || !strings.Contains(s, "Running") {
			return fmt.Errorf("resources: %q", s)
		}
		return nil
	})
	screenshot(t, ctx, "app")
	axe(t, ctx, "app")
	if err := chromedp.Run(ctx, chromedp.Navigate(apiA.URL+"/"), chromedp.WaitVisible(`#catalog table`)); err != nil {
		t.Fatal(err)
	}
	if cat := textOf(t, ctx, "#catalog"); !strings.Contains(cat, "PR #7") || !strings.Contains(cat, "expires in") {
		t.Errorf("the catalog does not show the preview under its app: %q", cat)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(apiA.URL+"/apps/team-a/portal-web"), chromedp.WaitVisible(`#resources table`)); err != nil {
		t.Fatal(err)
	}

	// A change made in the cluster by hand shows on the open page.
	dep := &appsv1.Deployment{}
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "portal-web"}, dep); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(dep.DeepCopy())
	one := int32(1)
	dep.Spec.Replicas = &one
	start := time.Now()
	if err := kube.Patch(context.Background(), dep, patch); err != nil {
		t.Fatal(err)
	}
	// How fast the page follows is measured by make bench-api, not here:
	// a busy machine delays the mirror, the feed and the page alike.
	eventually(t, 15*time.Second, "the scaled Deployment on the page", func() error {
		if s := textOf(t, ctx, "#replicas"); !strings.Contains(s, "/1 available") {
			return fmt.Errorf("replicas: %q", s)
		}
		return nil
	})
	t.Logf("cluster change → page: %s", time.Since(start).Round(time.Millisecond))

	// Tenants: an invalid submission shows the field's message; a valid
	// one appears in the list and its namespace exists.
	if err := chromedp.Run(ctx, chromedp.Navigate(apiA.URL+"/tenants"), chromedp.WaitVisible(`#new-tenant`),
		chromedp.SendKeys(`#t-name`, "Bad Name"), chromedp.Click(`#new-tenant button[type=submit]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the name's message", func() error {
		if s := textOf(t, ctx, "#t-name-error"); !strings.Contains(s, "metadata.name") && !strings.Contains(s, "lowercase") {
			return fmt.Errorf("name error: %q (form: %q)", s, textOf(t, ctx, "#t-form-error"))
		}
		return nil
	})
	var invalid string
	_ = chromedp.Run(ctx, chromedp.AttributeValue(`#t-name`, "aria-invalid", &invalid, nil))
	if invalid != "true" {
		t.Errorf("the name field is not marked invalid")
	}
	screenshot(t, ctx, "tenants-invalid")
	if err := chromedp.Run(ctx, chromedp.SetValue(`#t-name`, "gamma"), chromedp.SendKeys(`#t-display`, "Team Gamma"),
		chromedp.Click(`#new-tenant button[type=submit]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "gamma Running in the list and its namespace", func() error {
		s := textOf(t, ctx, "#tenants")
		if !strings.Contains(s, "gamma") || !strings.Contains(s, "Running") {
			return fmt.Errorf("list: %q", s)
		}
		return kube.Get(context.Background(), client.ObjectKey{Name: "gamma-staging"}, &corev1.Namespace{})
	})
	screenshot(t, ctx, "tenants")
	axe(t, ctx, "tenants")

	// Costs, with the chart, for a period with samples of portal-web.
	// A day of its own per run: a sample slot is written once, and an
	// earlier run's (go test -count=2) belong to the app deleted since.
	sampler := &costs.Sampler{Cache: kube, Store: db}
	day := time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(time.Now().UnixNano()%1500))
	for h := 0; h < 3; h++ {
		if _, err := sampler.SampleAt(context.Background(), day.Add(time.Duration(h)*time.Hour), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(apiA.URL+"/costs"), chromedp.WaitVisible(`#costs p`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the first cost summary", func() error {
		if s := textOf(t, ctx, "#costs"); !strings.Contains(s, "Total:") {
			return fmt.Errorf("costs: %q", s)
		}
		return nil
	})
	if err := chromedp.Run(ctx, chromedp.SetValue(`#from`, day.Format(time.DateOnly)), chromedp.SetValue(`#to`, day.AddDate(0, 0, 1).Format(time.DateOnly)),
		chromedp.Click(`#range button[type=submit]`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "portal-web's cost", func() error {
		if s := textOf(t, ctx, "#costs"); !strings.Contains(s, "team-a/portal-web") {
			return fmt.Errorf("costs: %q", s)
		}
		return nil
	})
	var bars int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`Chart.getChart(document.getElementById("chart")).data.labels.length`, &bars)); err != nil || bars == 0 {
		t.Errorf("the chart shows %d bars: %v", bars, err)
	}
	var hasChart bool
	if err := chromedp.Run(ctx, chromedp.Evaluate(`!!window.Chart`, &hasChart)); err != nil || !hasChart {
		t.Errorf("Chart.js is not loaded on the cost page: %v", err)
	}
	screenshot(t, ctx, "costs")
	axe(t, ctx, "costs")
}

// A user who may see an app but not operate it sees no action buttons,
// and the API refuses the call when forced from the page.
func TestPortalHidesActionsWithoutTheRole(t *testing.T) {
	ctx := browser(t, 390, 844) // a phone's width
	c := admin(t)
	install := createApp(t, c, "team-a", "portal-ro", "registry.example.com/portal-ro:1")
	waitTask(t, c, install.ID, store.TaskDone)
	if err := db.SetEnvironmentRole(context.Background(), "team-a", "viewer@plattr.test", authz.EnvUser); err != nil {
		t.Fatal(err)
	}
	asSession(t, ctx, "viewer@plattr.test")
	if err := chromedp.Run(ctx, chromedp.Navigate(apiA.URL+"/apps/team-a/portal-ro"), chromedp.WaitVisible(`#conditions table`)); err != nil {
		t.Fatal(err)
	}
	var hidden bool
	var buttons int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById("actions-section").hidden`, &hidden),
		chromedp.Evaluate(`document.querySelectorAll("#actions button").length`, &buttons)); err != nil {
		t.Fatal(err)
	}
	if !hidden || buttons != 0 {
		t.Fatalf("a viewer sees actions: section hidden %v, %d buttons", hidden, buttons)
	}
	var status int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`fetch("/api/v1/apps/team-a/portal-ro/restart", {method: "POST"}).then(r => r.status)`, &status,
		func(p *runtimeEvaluateParams) *runtimeEvaluateParams { return p.WithAwaitPromise(true) })); err != nil {
		t.Fatal(err)
	}
	if status != 403 {
		t.Fatalf("a forced restart answered %d, want 403", status)
	}
	screenshot(t, ctx, "app-viewer-phone")
	axe(t, ctx, "app (viewer, phone width)")
}

type runtimeEvaluateParams = runtime.EvaluateParams

// A lost connection shows a banner; when the API is back the page resumes
// from the last event it had, showing what happened meanwhile.
func TestPortalShowsLostConnectionAndResumes(t *testing.T) {
	ctx := browser(t, 1280, 900)
	c := admin(t)
	install := createApp(t, c, "team-a", "portal-live", "registry.example.com/portal-live:1")
	waitTask(t, c, install.ID, store.TaskDone)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	rc, err := startReplica("c", lis, apiA.URL)
	if err != nil {
		t.Fatal(err)
	}
	asSession(t, ctx, siteAdmin) // cookies are per host, not per port: valid on replica C too
	if err := chromedp.Run(ctx, chromedp.Navigate(rc.URL+"/apps/team-a/portal-live"), chromedp.WaitVisible(`#history table`)); err != nil {
		t.Fatal(err)
	}
	rc.Stop()
	eventually(t, 5*time.Second, "the banner", func() error {
		var hidden bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById("banner").hidden`, &hidden)); err != nil {
			return err
		}
		if hidden || !strings.Contains(textOf(t, ctx, "#banner"), "Connection lost") {
			return fmt.Errorf("banner hidden %v", hidden)
		}
		return nil
	})
	screenshot(t, ctx, "app-connection-lost")
	// Meanwhile, through the other replica.
	var missed store.Task
	c.must(t, 202, "POST", "/api/v1/apps/team-a/portal-live/restart", map[string]any{"executeAt": time.Now().Add(time.Hour)}, &missed)

	var lis2 net.Listener
	eventually(t, 10*time.Second, "the address again", func() error {
		var err error
		lis2, err = net.Listen("tcp", addr)
		return err
	})
	rc2, err := startReplica("c2", lis2, apiA.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Stop()
	eventually(t, 15*time.Second, "resumed: banner gone and the missed task shown", func() error {
		var hidden bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(`document.getElementById("banner").hidden`, &hidden)); err != nil {
			return err
		}
		var rows int
		if err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(`document.querySelectorAll('#history tr[data-task="%d"]').length`, missed.ID), &rows)); err != nil {
			return err
		}
		if !hidden || rows != 1 {
			return fmt.Errorf("banner hidden %v, missed task rows %d", hidden, rows)
		}
		return nil
	})
	_, _ = db.CancelTask(context.Background(), missed.ID, "test")
}

// requestCounter counts the API requests the page sends, by path.
type requestCounter struct {
	mu    sync.Mutex
	paths []string
}

func countRequests(t *testing.T, ctx context.Context) *requestCounter {
	t.Helper()
	rc := &requestCounter{}
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && strings.Contains(e.Request.URL, "/api/v1/") {
			u, err := url.Parse(e.Request.URL)
			if err != nil {
				return
			}
			rc.mu.Lock()
			rc.paths = append(rc.paths, u.Path+"?"+u.RawQuery)
			rc.mu.Unlock()
		}
	})
	if err := chromedp.Run(ctx, network.Enable()); err != nil {
		t.Fatal(err)
	}
	return rc
}

// since returns the requests after the first n whose path starts with prefix.
func (rc *requestCounter) since(n int, prefix string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, p := range rc.paths[min(n, len(rc.paths)):] {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}

func (rc *requestCounter) len() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.paths)
}

// The catalog reads every page of the listing (continue), and then follows
// the event stream by patching rows from the events, without reading the
// list again: a new app's row appears, a changed one changes, a deleted
// one goes.
func TestPortalCatalogPagesAndPatchesFromEvents(t *testing.T) {
	ctx := browser(t, 1280, 900)
	bg := context.Background()
	run := testenv.RandomString(5)
	// A user who sees exactly these apps, through app roles granted before
	// the page opens: the roles events are through the hub (seen on a
	// stream of theirs) before the page's own stream starts.
	email := "pager-" + run + "@plattr.test"
	u := asUser(t, email)
	roles, stop := subscribe(t, u, "")
	defer stop()
	names := []string{"ghost-" + run}
	for i := range 5 {
		names = append(names, fmt.Sprintf("page-%s-%d", run, i))
	}
	for _, n := range names {
		if err := db.SetAppRole(bg, store.AppKey{Namespace: "team-b", Name: n}, email, authz.AppOwner); err != nil {
			t.Fatal(err)
		}
	}
	for range names {
		next(t, roles, 10*time.Second, func(e sse) bool { return e.Kind == "roles" })
	}
	for _, n := range names[1:] {
		a := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: n},
			Spec: platformv1.ApplicationSpec{Repository: "github.com/example/web", Framework: "docker", Environment: "staging", ImageRef: "registry.example.com/page:1"}}
		if err := kube.Create(bg, a); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = kube.Delete(bg, a) })
	}
	const total = 5
	eventually(t, 30*time.Second, "the new apps listed", func() error {
		var all struct {
			Items []struct{ Name string } `json:"items"`
		}
		u.must(t, 200, "GET", "/api/v1/apps", nil, &all)
		if len(all.Items) != total {
			return fmt.Errorf("%d of %d listed", len(all.Items), total)
		}
		return nil
	})

	reqs := countRequests(t, ctx)
	asSession(t, ctx, email)
	if err := chromedp.Run(ctx, chromedp.Navigate(apiA.URL+"/?limit=2"), chromedp.WaitVisible(`#catalog table`)); err != nil {
		t.Fatal(err)
	}
	rowCount := func(sel string) int {
		var n int
		if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll(`+strconvQuote(sel)+`).length`, &n)); err != nil {
			t.Fatal(err)
		}
		return n
	}
	eventually(t, 10*time.Second, "every app on the page", func() error {
		if n := rowCount(`#catalog tr[data-app]:not(.preview)`); n != total {
			return fmt.Errorf("%d of %d apps shown", n, total)
		}
		return nil
	})
	lists := reqs.since(0, "/api/v1/apps?")
	if len(lists) != 3 {
		t.Errorf("the catalog read the list in %d requests, want 3 pages of 2 for %d apps: %v", len(lists), total, lists)
	}
	for i, p := range lists {
		if (i > 0) != strings.Contains(p, "continue=") {
			t.Errorf("request %d: %s", i, p)
		}
	}

	// Changes arrive as events; none makes the page read the list again.
	loaded := reqs.len()
	ghost := store.AppKey{Namespace: "team-b", Name: "ghost-" + run}
	const changes = 10
	for i := 1; i <= changes; i++ {
		st, _ := json.Marshal(map[string]any{"environment": "staging", "phase": "Running", "image": fmt.Sprintf("registry.example.com/ghost:%d", i),
			"ready": true, "createdAt": time.Now().UTC(), "generation": i, "observedGeneration": i, "conditions": []any{}})
		if err := db.SetAppState(bg, ghost, st); err != nil {
			t.Fatal(err)
		}
	}
	sel := `#catalog tr[data-app="team-b/ghost-` + run + `"]`
	eventually(t, 15*time.Second, "the new app's row, patched to its last change", func() error {
		var s string
		if err := chromedp.Run(ctx, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.AtLeast(0))); err != nil {
			return err
		}
		if !strings.Contains(s, fmt.Sprintf("ghost:%d", changes)) {
			return fmt.Errorf("row: %q", s)
		}
		return nil
	})
	// The row is in its place, after the apps it sorts after.
	var order []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll("#catalog tr[data-app]:not(.preview)")].map(r => r.dataset.app)`, &order)); err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(order, func(a, b string) int {
		an, aa, _ := strings.Cut(a, "/")
		bn, ba, _ := strings.Cut(b, "/")
		if c := strings.Compare(an, bn); c != 0 {
			return c
		}
		return strings.Compare(aa, ba)
	}) {
		t.Errorf("rows out of order after the patch: %v", order)
	}
	if err := db.DeleteAppState(bg, ghost); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the deleted app's row gone", func() error {
		if n := rowCount(sel); n != 0 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	})
	relisted := append(reqs.since(loaded, "/api/v1/apps?"), reqs.since(loaded, "/api/v1/tenants")...)
	t.Logf("%d app events (and the new apps' own): %d requests to list apps or tenants again", changes+1, len(relisted))
	if len(relisted) != 0 {
		t.Errorf("the catalog read the list again on events: %v", relisted)
	}
	axe(t, ctx, "catalog (paged)")
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
