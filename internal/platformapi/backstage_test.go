package platformapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/server"
	"github.com/plattr/plattr/internal/testenv"
)

// bsEntity is an exported entity as the tests read it.
type bsEntity struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Annotations map[string]string `json:"annotations"`
		Links       []struct{ URL string }
	} `json:"metadata"`
	Spec struct {
		Type         string   `json:"type"`
		Lifecycle    string   `json:"lifecycle"`
		Owner        string   `json:"owner"`
		System       string   `json:"system"`
		DependsOn    []string `json:"dependsOn"`
		ProvidesAPIs []string `json:"providesApis"`
		Definition   string   `json:"definition"`
	} `json:"spec"`
}

func (e bsEntity) ref() string {
	return strings.ToLower(e.Kind) + ":" + e.Metadata.Namespace + "/" + e.Metadata.Name
}

// exportAll pages through the export limit units at a time; it fails on a
// page that repeats an entity, and returns the entities and the raw JSON.
func exportAll(t *testing.T, c *caller, limit int) ([]bsEntity, []json.RawMessage) {
	t.Helper()
	var (
		all   []bsEntity
		raw   []json.RawMessage
		seen  = map[string]bool{}
		token string
	)
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("the export's continue tokens do not end")
		}
		path := fmt.Sprintf("/api/v1/backstage/entities?limit=%d", limit)
		if token != "" {
			path += "&continue=" + token
		}
		var page struct {
			Items    []json.RawMessage `json:"items"`
			Continue string            `json:"continue"`
		}
		c.must(t, 200, "GET", path, nil, &page)
		for _, r := range page.Items {
			var e bsEntity
			if err := json.Unmarshal(r, &e); err != nil {
				t.Fatal(err)
			}
			if seen[e.ref()] {
				t.Fatalf("%s is on two pages (limit %d)", e.ref(), limit)
			}
			seen[e.ref()] = true
			all = append(all, e)
			raw = append(raw, r)
		}
		if page.Continue == "" {
			return all, raw
		}
		token = page.Continue
	}
}

var npmOnce sync.Once

// validate runs Backstage's own catalog-model validators
// (hack/backstage-validate) on the entities: it fails the test on an
// invalid entity, a dangling relation or a duplicate ref.
func validate(t *testing.T, entities []json.RawMessage) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("Node.js is missing: hack/install-deps.sh npm installs it")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "hack", "backstage-validate")
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@backstage", "catalog-model", "package.json")); err == nil {
			return
		}
		out, err := exec.Command("npm", "ci", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error").CombinedOutput()
		if err != nil {
			t.Fatalf("npm ci in hack/backstage-validate: %v\n%s", err, out)
		}
	})
	in, _ := json.Marshal(entities)
	cmd := exec.Command(node, filepath.Join(dir, "validate.js"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var report struct {
		Entities, Valid int
		Kinds           map[string]int
	}
	if jerr := json.Unmarshal(out, &report); jerr != nil {
		t.Fatalf("the validator answered no report (%v): %s %s", err, out, stderr.String())
	}
	if err != nil {
		t.Fatalf("Backstage's catalog-model refuses the export:\n%s", out)
	}
	if report.Valid != len(entities) || report.Entities != len(entities) {
		t.Fatalf("the validator checked %d of %d entities: %s", report.Valid, len(entities), out)
	}
	t.Logf("catalog-model accepted %d entities: %v", report.Valid, report.Kinds)
}

// createAppWith records an Install of spec as c and waits for the app to
// be in the API's catalog.
func createAppWith(t *testing.T, c *caller, ns, name string, spec platformv1.ApplicationSpec) {
	t.Helper()
	// 409: made by an earlier run of the suite (-count=2).
	if code, body := c.do(t, "POST", "/api/v1/apps", map[string]any{"namespace": ns, "name": name, "spec": spec}, nil); code != 202 && code != 409 {
		t.Fatalf("creating %s/%s: HTTP %d %s", ns, name, code, body)
	}
	eventually(t, 30*time.Second, ns+"/"+name+" in the catalog", func() error {
		var list struct{ Items []struct{ Name string } }
		c.must(t, 200, "GET", "/api/v1/apps?namespace="+ns, nil, &list)
		for _, a := range list.Items {
			if a.Name == name {
				return nil
			}
		}
		return fmt.Errorf("not listed")
	})
}

// ensureTenant creates a tenant as c, or finds it made by an earlier run.
func ensureTenant(t *testing.T, c *caller, body map[string]any) {
	t.Helper()
	if code, resp := c.do(t, "POST", "/api/v1/tenants", body, nil); code != 201 && code != 409 {
		t.Fatalf("creating tenant %v: HTTP %d %s", body["name"], code, resp)
	}
	waitTenant(t, c, body["name"].(string))
}

func issueReaderToken(t *testing.T, admin *caller, name string) (*caller, int64) {
	t.Helper()
	var tok struct {
		Info  struct{ ID int64 }
		Token string
	}
	admin.must(t, 201, "POST", "/api/v1/backstage/tokens", map[string]any{"name": name, "expiresIn": "24h"}, &tok)
	if !strings.HasPrefix(tok.Token, server.CatalogTokenPrefix) {
		t.Fatalf("a reader token %q does not start with %s", tok.Token, server.CatalogTokenPrefix)
	}
	return &caller{base: apiA.URL, token: tok.Token}, tok.Info.ID
}

// The export as a Backstage entity provider reads it: every entity passes
// Backstage's own validators, every relation resolves, paging returns
// each entity once, apps whose flat names collide keep distinct refs, and
// the reader token reads this and nothing else.
func TestBackstageExportValidatesWithCatalogModel(t *testing.T) {
	ctx := context.Background()
	adminC := admin(t)
	owner := asUser(t, "bs-owner@bsone.test")
	ensureTenant(t, owner, map[string]any{"name": "bsone", "displayName": "Team BS One", "environments": []string{"staging"}})
	// Two namespaces no tenant owns, whose apps' flat names collide:
	// bs-x/y-z and bs-x-y/z are both "bs-x-y-z" joined with '-'.
	for _, ns := range []string{"bs-x", "bs-x-y"} {
		if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}
	shop := platformv1.ApplicationSpec{
		Repository: "github.com/example/shop", Branch: "main", Framework: "docker", Environment: "staging", ImageRef: "registry.example.com/shop:1",
		Database: &platformv1.DatabaseSpec{Enabled: true},
		// Bucket db: its flat name shop-db is the database's flat name too.
		Storage: &platformv1.StorageSpec{Enabled: true, Buckets: []platformv1.BucketSpec{{Name: "db"}, {Name: "uploads", Public: true}}},
	}
	createAppWith(t, owner, "bsone-staging", "shop", shop)
	plain := func(repo string) platformv1.ApplicationSpec {
		return platformv1.ApplicationSpec{Repository: repo, Framework: "docker", Environment: "staging", ImageRef: "registry.example.com/x:1"}
	}
	createAppWith(t, owner, "bsone-staging", "shop-db", plain("gitlab.example.com/group/sub/shop-db"))
	// The longest names: an app of 40 characters with two buckets of 20
	// that share their first 19: both names pass 63 characters and are
	// cut to the same first 46.
	long := strings.Repeat("l", 40)
	longSpec := plain("not a repository; javascript:alert(1)")
	longSpec.Storage = &platformv1.StorageSpec{Enabled: true, Buckets: []platformv1.BucketSpec{{Name: strings.Repeat("b", 19) + "1"}, {Name: strings.Repeat("b", 19) + "2"}}}
	createAppWith(t, owner, "bsone-staging", long, longSpec)
	createAppWith(t, adminC, "bs-x", "y-z", plain("github.com/example/y-z"))
	createAppWith(t, adminC, "bs-x-y", "z", plain("github.com/example/z"))

	reader, readerID := issueReaderToken(t, adminC, "backstage-test")
	entities, raw := exportAll(t, reader, 1000)
	validate(t, raw)

	// Paging: small pages hold the same entities as one large page.
	paged, _ := exportAll(t, reader, 2)
	refs := func(es []bsEntity) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ref())
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(refs(paged), refs(entities)) {
		t.Fatalf("pages of 2 give %d entities, one page %d", len(paged), len(entities))
	}
	byRef := map[string]bsEntity{}
	for _, e := range entities {
		byRef[e.ref()] = e
	}
	get := func(ref string) bsEntity {
		t.Helper()
		e, ok := byRef[ref]
		if !ok {
			t.Fatalf("%s is not exported", ref)
		}
		return e
	}

	// The app, its Resources and its API.
	app := &platformv1.Application{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "bsone-staging", Name: "shop"}, app); err != nil {
		t.Fatal(err)
	}
	c := get("component:bsone-staging/shop")
	if c.Spec.Type != "service" || c.Spec.Lifecycle != "staging" || c.Spec.Owner != "group:plattr/bsone" || c.Spec.System != "system:plattr/bsone" {
		t.Errorf("shop's spec = %+v", c.Spec)
	}
	wantDeps := []string{"resource:bsone-staging/shop.bucket.db", "resource:bsone-staging/shop.bucket.uploads", "resource:bsone-staging/shop.database"}
	if deps := slices.Sorted(slices.Values(c.Spec.DependsOn)); !slices.Equal(deps, wantDeps) {
		t.Errorf("shop dependsOn %v, want %v", deps, wantDeps)
	}
	if !slices.Equal(c.Spec.ProvidesAPIs, []string{"api:bsone-staging/shop.rest"}) {
		t.Errorf("shop providesApis %v", c.Spec.ProvidesAPIs)
	}
	for k, want := range map[string]string{
		"plattr.io/portal-url":         apiA.URL + "/apps/bsone-staging/shop",
		"plattr.io/app-uid":            string(app.UID),
		"plattr.io/tenant":             "bsone",
		"backstage.io/source-location": "url:https://github.com/example/shop/tree/main/",
		"github.com/project-slug":      "example/shop",
	} {
		if got := c.Metadata.Annotations[k]; got != want {
			t.Errorf("shop's annotation %s = %q, want %q", k, got, want)
		}
	}
	if db := get("resource:bsone-staging/shop.database"); db.Spec.Type != "database" || db.Spec.Owner != "group:plattr/bsone" {
		t.Errorf("shop's database = %+v", db.Spec)
	}
	if b := get("resource:bsone-staging/shop.bucket.uploads"); b.Spec.Type != "s3-bucket" || b.Metadata.Annotations["plattr.io/public"] != "true" {
		t.Errorf("shop's bucket uploads = %+v %v", b.Spec, b.Metadata.Annotations)
	}
	if api := get("api:bsone-staging/shop.rest"); api.Spec.Type != "openapi" || !strings.Contains(api.Spec.Definition, "openapi: 3.0.3") {
		t.Errorf("shop's REST API = %+v", api.Spec)
	}
	if g := get("group:plattr/bsone"); g.Metadata.Annotations["plattr.io/tenant"] != "bsone" {
		t.Errorf("bsone's group annotations = %v", g.Metadata.Annotations)
	}
	get("system:plattr/bsone")
	// A repository that is no host/owner/name gives no source location;
	// another host gives its URL, without GitHub's slug.
	if loc, ok := get("component:bsone-staging/" + long).Metadata.Annotations["backstage.io/source-location"]; ok {
		t.Errorf("a hostile repository became source-location %q", loc)
	}
	if a := get("component:bsone-staging/shop-db").Metadata.Annotations; a["backstage.io/source-location"] != "url:https://gitlab.example.com/group/sub/shop-db/" || a["github.com/project-slug"] != "" {
		t.Errorf("shop-db's source annotations = %v", a)
	}

	// Names that collide when joined flat do not collide here.
	yz, z := get("component:bs-x/y-z"), get("component:bs-x-y/z")
	if yz.Spec.Owner == z.Spec.Owner || yz.Spec.Owner != "group:plattr/namespace.bs-x" {
		t.Errorf("the owners of bs-x/y-z and bs-x-y/z: %s, %s", yz.Spec.Owner, z.Spec.Owner)
	}
	longComp := get("component:bsone-staging/" + long)
	if len(longComp.Spec.DependsOn) != 2 || longComp.Spec.DependsOn[0] == longComp.Spec.DependsOn[1] {
		t.Fatalf("the long app's buckets: %v", longComp.Spec.DependsOn)
	}
	for _, ref := range longComp.Spec.DependsOn {
		name := ref[strings.LastIndex(ref, "/")+1:]
		if len(name) != 63 || !strings.Contains(name, "_") {
			t.Errorf("a 68-character name became %q (%d)", name, len(name))
		}
		get(ref)
	}

	// The reader token reads the export and nothing else.
	for _, call := range [][2]string{{"GET", "/api/v1/me"}, {"GET", "/api/v1/apps"}, {"GET", "/api/v1/tokens"}, {"POST", "/api/v1/tenants"}, {"GET", "/api/v1/backstage/tokens"}} {
		if code, body := reader.do(t, call[0], call[1], map[string]any{"name": "from-reader"}, nil); code != 401 {
			t.Errorf("%s %s with the reader token: HTTP %d %s, want 401", call[0], call[1], code, body)
		}
	}
	// Nor does a user's token become one by taking its prefix.
	ownerAsReader := &caller{base: apiA.URL, token: server.CatalogTokenPrefix + strings.TrimPrefix(owner.token, "plattr_")}
	if code, _ := ownerAsReader.do(t, "GET", "/api/v1/backstage/entities", nil, nil); code != 401 {
		t.Errorf("a user's token under the reader prefix: HTTP %d, want 401", code)
	}
	// Only site admins issue reader tokens; a revoked one reads nothing.
	if code, _ := owner.do(t, "POST", "/api/v1/backstage/tokens", map[string]any{"name": "mine"}, nil); code != 403 {
		t.Errorf("a tenant admin issues a reader token: HTTP %d, want 403", code)
	}
	adminC.must(t, 204, "DELETE", fmt.Sprintf("/api/v1/backstage/tokens/%d", readerID), nil, nil)
	if code, _ := reader.do(t, "GET", "/api/v1/backstage/entities", nil, nil); code != 401 {
		t.Errorf("a revoked reader token: HTTP %d, want 401", code)
	}
	if code, body := adminC.do(t, "GET", "/api/v1/backstage/entities?continue=x/y", nil, nil); code != 400 || !strings.Contains(body, `"field":"continue"`) {
		t.Errorf("a bad continue token: HTTP %d %s, want 400 naming continue", code, body)
	}
}

// A signed-in user sees their own tenant's entities only, and their export
// is complete in itself: its relations resolve without anyone else's.
func TestBackstageExportShowsAUserOnlyWhatTheyMaySee(t *testing.T) {
	adminC := admin(t)
	one := asUser(t, "bs-member@bsthree.test")
	two := asUser(t, "bs-member@bsfour.test")
	ensureTenant(t, one, map[string]any{"name": "bsthree", "environments": []string{"staging"}})
	ensureTenant(t, two, map[string]any{"name": "bsfour", "environments": []string{"staging", "production"}})
	spec := func(env string) platformv1.ApplicationSpec {
		return platformv1.ApplicationSpec{Repository: "github.com/example/web", Framework: "docker", Environment: platformv1.Environment(env),
			ImageRef: "registry.example.com/web:1", Database: &platformv1.DatabaseSpec{Enabled: true}}
	}
	createAppWith(t, one, "bsthree-staging", "web", spec("staging"))
	createAppWith(t, two, "bsfour-staging", "web", spec("staging"))
	createAppWith(t, two, "bsfour-production", "web", spec("production"))

	entities, raw := exportAll(t, one, 1)
	validate(t, raw)
	for _, e := range entities {
		if e.Metadata.Namespace != "bsthree-staging" && e.ref() != "group:plattr/bsthree" && e.ref() != "system:plattr/bsthree" {
			t.Errorf("bsthree's member sees %s", e.ref())
		}
	}
	if len(entities) != 5 { // Group, System, Component, its database and REST API
		t.Errorf("bsthree's member sees %d entities, want 5", len(entities))
	}
	mine, _ := exportAll(t, two, 100)
	var lifecycles []string
	for _, e := range mine {
		if strings.HasPrefix(e.Metadata.Namespace, "bsthree") || strings.Contains(e.ref(), "bsthree") {
			t.Errorf("bsfour's member sees %s", e.ref())
		}
		if e.Kind == "Component" {
			lifecycles = append(lifecycles, e.Spec.Lifecycle)
		}
	}
	if slices.Sort(lifecycles); !slices.Equal(lifecycles, []string{"production", "staging"}) {
		t.Errorf("bsfour's components have lifecycles %v", lifecycles)
	}
	// Someone with no role sees nothing.
	none, _ := exportAll(t, asUser(t, "bs-nobody@plattr.test"), 100)
	if len(none) != 0 {
		t.Errorf("a user with no role sees %d entities", len(none))
	}
	// An app role alone shows that app with its owner and system, so its
	// relations resolve, and nothing else of the tenant.
	maint := asUser(t, "bs-maintainer@plattr.test")
	adminC.must(t, 204, "PUT", "/api/v1/apps/bsfour-production/web/members/bs-maintainer@plattr.test", map[string]any{"role": "Maintainer"}, nil)
	got, raw := exportAll(t, maint, 100)
	validate(t, raw)
	var kinds []string
	for _, e := range got {
		if e.Kind != "Group" && e.Kind != "System" && e.Metadata.Namespace != "bsfour-production" {
			t.Errorf("the app's maintainer sees %s", e.ref())
		}
		kinds = append(kinds, e.Kind)
	}
	if slices.Sort(kinds); !slices.Equal(kinds, []string{"API", "Component", "Group", "Resource", "System"}) {
		t.Errorf("the app's maintainer sees %v", kinds)
	}
}
