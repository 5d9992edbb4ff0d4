package server

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Backstage's rule for metadata.name (catalog-model's
// KubernetesValidatorFunctions.isValidObjectName); the API test runs the
// library itself on the whole export.
var backstageName = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)

func TestEntityNamesAreValidAndDistinct(t *testing.T) {
	long, bucket := strings.Repeat("a", 40), strings.Repeat("b", 19)
	cases := [][]string{
		{"web", "database"}, {"web", "bucket", "db"}, {"web-bucket", "db"}, {"web", "bucket-db"}, {"web-db"}, {"web", "db"},
		{long, "bucket", bucket + "1"}, {long, "bucket", bucket + "2"}, {long, "database"}, {long},
		{"namespace", strings.Repeat("n", 63)}, {"namespace", strings.Repeat("n", 62)},
		// Not names the CRDs allow, handled all the same.
		{"Web", "x"}, {"a.b", "c"}, {"a", "b.c"}, {"a_b"}, {"-"}, {""},
	}
	seen := map[string][]string{}
	for _, parts := range cases {
		n := entityName(parts...)
		if !backstageName.MatchString(n) || len(n) > 63 {
			t.Errorf("entityName(%q) = %q: not a Backstage name", parts, n)
		}
		if prev, dup := seen[strings.ToLower(n)]; dup {
			t.Errorf("entityName(%q) = entityName(%q) = %q", parts, prev, n)
		}
		seen[strings.ToLower(n)] = parts
	}
	if got := entityName("web", "bucket", "db"); got != "web.bucket.db" {
		t.Errorf("a short clean name is changed: %q", got)
	}
}

func TestSourceLocationKeepsOnlyPlainRepositories(t *testing.T) {
	for repo, want := range map[string][2]string{
		"github.com/example/web":                    {"url:https://github.com/example/web/tree/main/", "example/web"},
		"https://github.com/example/web.git":        {"url:https://github.com/example/web/tree/main/", "example/web"},
		"gitlab.example.com/group/sub/web":          {"url:https://gitlab.example.com/group/sub/web/", ""},
		"javascript:alert(1)":                       {"", ""},
		"https://user:pw@github.com/example/web":    {"", ""},
		"github.com/example/../../evil":             {"", ""},
		"github.com/example/web?x=1":                {"", ""},
		"github.com/example/web\nbackstage.io/x: y": {"", ""},
		"github.com": {"", ""},
		"not a repository; github.com/example/web": {"", ""},
	} {
		loc, slug := sourceLocation(repo, "main")
		if loc != want[0] || slug != want[1] {
			t.Errorf("sourceLocation(%q) = %q, %q; want %q, %q", repo, loc, slug, want[0], want[1])
		}
	}
	if loc, _ := sourceLocation("github.com/example/web", "../../x"); loc != "url:https://github.com/example/web/" {
		t.Errorf("a branch with .. gave %q", loc)
	}
}

// BenchmarkAppEntities: one app's entities (a database, 20 buckets, its
// REST API), the export's cost per app.
func BenchmarkAppEntities(b *testing.B) {
	a := &platformv1.Application{}
	a.Namespace, a.Name, a.UID = "team-a-staging", strings.Repeat("w", 40), "uid"
	a.Spec = platformv1.ApplicationSpec{Repository: "github.com/example/web", Branch: "main", Framework: "docker", Environment: "staging",
		Database: &platformv1.DatabaseSpec{Enabled: true}, Storage: &platformv1.StorageSpec{Enabled: true}}
	for i := range 20 {
		a.Spec.Storage.Buckets = append(a.Spec.Storage.Buckets, platformv1.BucketSpec{Name: fmt.Sprintf("bucket-%02d", i)})
	}
	a.Status.URL = "https://web.example.com"
	e := &exporter{portal: "https://plattr.example.com"}
	o := owner{name: "team-a", tenant: "team-a"}
	b.ReportAllocs()
	for b.Loop() {
		if n := len(e.appEntities(a, o)); n != 23 {
			b.Fatalf("%d entities", n)
		}
	}
}
