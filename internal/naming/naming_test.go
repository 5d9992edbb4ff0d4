package naming

import (
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

var sqlIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func app(name string, env platformv1.Environment, schema string) *platformv1.Application {
	a := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Name: name}}
	a.Spec.Environment = env
	if schema != "" {
		a.Spec.Database = &platformv1.DatabaseSpec{Enabled: true, SchemaName: schema}
	}
	return a
}

func TestDatabaseFor(t *testing.T) {
	long := strings.Repeat("a", 40)
	tests := []struct {
		name                      string
		app                       *platformv1.Application
		schema, appRole, anonRole string
	}{
		{"production prefix", app("my-frontend", platformv1.EnvironmentProduction, ""), "prod_my_frontend", "prod_my_frontend_app", "prod_my_frontend_anon"},
		{"staging keeps its name", app("api", platformv1.EnvironmentStaging, ""), "staging_api", "staging_api_app", "staging_api_anon"},
		{"explicit schema name", app("api", platformv1.EnvironmentUAT, "orders"), "uat_orders", "uat_api_app", "uat_api_anon"},
		{"digits", app("a1-2b", platformv1.EnvironmentStaging, ""), "staging_a1_2b", "staging_a1_2b_app", "staging_a1_2b_anon"},
		{"reserved word", app("select", platformv1.EnvironmentStaging, "user"), "staging_user", "staging_select_app", "staging_select_anon"},
		{"long name is cut with a hash", app(long+long, platformv1.EnvironmentPreview, ""),
			"preview_" + strings.Repeat("a", 46) + "_d3b1b1ab", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := For(tt.app, "").Database()
			for _, id := range []string{got.Schema, got.AppRole, got.AnonRole} {
				if !sqlIdentifier.MatchString(id) {
					t.Errorf("%q is not a safe SQL identifier", id)
				}
			}
			if tt.schema != "" && !strings.HasPrefix(got.Schema, tt.schema[:len(tt.schema)-8]) {
				t.Errorf("schema = %q, want %q", got.Schema, tt.schema)
			}
			if tt.appRole != "" && got.AppRole != tt.appRole {
				t.Errorf("app role = %q, want %q", got.AppRole, tt.appRole)
			}
			if tt.anonRole != "" && got.AnonRole != tt.anonRole {
				t.Errorf("anon role = %q, want %q", got.AnonRole, tt.anonRole)
			}
			if got.AppRole == got.AnonRole {
				t.Errorf("app and anon roles collide: %q", got.AppRole)
			}
		})
	}
}

func TestLongNamesStayDistinct(t *testing.T) {
	base := strings.Repeat("x", 70)
	a, b := Identifier("prod", base+"1"), Identifier("prod", base+"2")
	if a == b {
		t.Fatalf("two long names share identifier %q", a)
	}
	if len(a) != MaxIdentifierLength || len(b) != MaxIdentifierLength {
		t.Fatalf("lengths %d and %d, want %d", len(a), len(b), MaxIdentifierLength)
	}
	if Identifier("prod", base+"1") != a {
		t.Fatal("Identifier is not stable")
	}
}

func TestQuoteIdentifier(t *testing.T) {
	tests := map[string]string{
		"plain":        `"plain"`,
		"user":         `"user"`,
		`we"ird`:       `"we""ird"`,
		"drop table x": `"drop table x"`,
	}
	for in, want := range tests {
		if got := QuoteIdentifier(in); got != want {
			t.Errorf("QuoteIdentifier(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestHost(t *testing.T) {
	tests := []struct {
		app  *platformv1.Application
		want string
	}{
		{app("web", platformv1.EnvironmentProduction, ""), "web.apps.example.com"},
		{app("web", platformv1.EnvironmentStaging, ""), "web.staging.apps.example.com"},
		{func() *platformv1.Application {
			a := app("web", platformv1.EnvironmentUAT, "")
			a.Spec.Domain = "shop.example.org"
			return a
		}(), "shop.example.org"},
	}
	for _, tt := range tests {
		if got := For(tt.app, "").Host("apps.example.com"); got != tt.want {
			t.Errorf("Host(%s/%s) = %q, want %q", tt.app.Name, tt.app.Spec.Environment, got, tt.want)
		}
	}
}

func TestStorageAndAuthNames(t *testing.T) {
	long := strings.Repeat("a", 40)
	tests := []struct {
		app, env, bucket  string
		bucketName, realm string
	}{
		{"my-frontend", "production", "uploads", "plattr-prod-my-frontend-uploads", "prod-my-frontend"},
		{"my-frontend", "staging", "uploads", "plattr-staging-my-frontend-uploads", "staging-my-frontend"},
		{long, "staging", "avatars-and-things", "", "staging-" + long},
	}
	for _, tt := range tests {
		a := app(tt.app, platformv1.Environment(tt.env), "")
		b := For(a, "").Bucket(tt.bucket)
		if tt.bucketName != "" && b != tt.bucketName {
			t.Errorf("Bucket(%s, %s) = %q, want %q", tt.app, tt.bucket, b, tt.bucketName)
		}
		if len(b) > 63 || len(validation.IsDNS1123Label(b)) > 0 || !strings.HasPrefix(b, BucketPrefix) {
			t.Errorf("Bucket(%s, %s) = %q is not a valid bucket name", tt.app, tt.bucket, b)
		}
		if !strings.HasPrefix(b, For(a, "").BucketsPrefix()) {
			t.Errorf("Bucket(%s, %s) = %q does not start with BucketsPrefix %q", tt.app, tt.bucket, b, For(a, "").BucketsPrefix())
		}
		if r := For(a, "").Realm(); r != tt.realm {
			t.Errorf("Realm(%s/%s) = %q, want %q", tt.env, tt.app, r, tt.realm)
		}
	}
	if BucketEnvVar("user-uploads") != "S3_BUCKET_USER_UPLOADS" {
		t.Errorf("BucketEnvVar = %q", BucketEnvVar("user-uploads"))
	}
	a, b := app("web", platformv1.EnvironmentStaging, ""), app("web", platformv1.EnvironmentStaging, "")
	b.Namespace = "other"
	if For(a, "").StorageUser() == For(b, "").StorageUser() {
		t.Errorf("apps of one name in two namespaces share access key %q", For(a, "").StorageUser())
	}
	// Regression: namespace "shop" + production app "staging-web" and
	// namespace "shop-prod" + staging app "web" shared a user when the parts
	// were only joined with '-'.
	c, d := app("staging-web", platformv1.EnvironmentProduction, ""), app("web", platformv1.EnvironmentStaging, "")
	c.Namespace, d.Namespace = "shop", "shop-prod"
	if For(c, "").StorageUser() == For(d, "").StorageUser() {
		t.Errorf("ambiguous access key %q for shop/staging-web (production) and shop-prod/web (staging)", For(c, "").StorageUser())
	}
	longApp := app(strings.Repeat("a", 40), platformv1.EnvironmentProduction, "")
	longApp.Namespace = strings.Repeat("n", 63)
	if u := For(longApp, "").StorageUser(); len(u) > MaxDNSLabelLength || len(validation.IsDNS1123Label(u)) > 0 {
		t.Errorf("StorageUser of a long app = %q (%d bytes)", u, len(u))
	}
	if For(app("web", platformv1.EnvironmentStaging, ""), "").Bucket("x") == For(app("web", platformv1.EnvironmentUAT, ""), "").Bucket("x") {
		t.Error("staging and uat share a bucket")
	}
}

func FuzzNames(f *testing.F) {
	for _, seed := range []string{"my-frontend", "a", "select", "1abc", strings.Repeat("z", 80), "Ünïcode-名前", "", "--", "a\"b"} {
		f.Add(seed, "staging")
	}
	f.Fuzz(func(t *testing.T, name, env string) {
		for _, id := range []string{Identifier(env, name), Identifier(env, name, "app"), Identifier(name)} {
			if !sqlIdentifier.MatchString(id) {
				t.Fatalf("Identifier gave unsafe %q for %q", id, name)
			}
			quoted := QuoteIdentifier(id)
			if !strings.HasPrefix(quoted, `"`) || !strings.HasSuffix(quoted, `"`) {
				t.Fatalf("QuoteIdentifier(%q) = %s is not quoted", id, quoted)
			}
		}
		if errs := validation.IsDNS1123Label(DNSLabel(name, "db")); len(errs) > 0 {
			t.Fatalf("DNSLabel(%q, db) = %q: %v", name, DNSLabel(name, "db"), errs)
		}
		if Identifier(env, name, "app") == Identifier(env, name, "anon") {
			t.Fatalf("app and anon roles collide for %q", name)
		}
	})
}

func TestPreviewNames(t *testing.T) {
	p := Preview{App: "web", PR: 42}
	want := map[string]string{
		"namespace": "preview-web-pr-42", "schema": "preview_web_pr42", "app role": "preview_web_pr42_app",
		"anon role": "preview_web_pr42_anon", "channel": "pgrst_preview_web_pr42",
		"host": "pr-42.web.preview.example.com", "bucket": "plattr-preview-web-pr42-uploads", "realm": "preview-web-pr42",
	}
	got := map[string]string{
		"namespace": p.Namespace(), "schema": p.Database().Schema, "app role": p.Database().AppRole,
		"anon role": p.Database().AnonRole, "channel": p.Database().Channel,
		"host": p.Host("example.com"), "bucket": p.Bucket("uploads"), "realm": p.Realm(),
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if !strings.HasPrefix(p.Bucket("uploads"), p.BucketsPrefix()) {
		t.Errorf("bucket %q does not start with the prefix %q", p.Bucket("uploads"), p.BucketsPrefix())
	}
	// The longest app name (40) and PR number still give valid names.
	long := Preview{App: strings.Repeat("a", 40), PR: 2147483647}
	if n := long.Namespace(); len(n) > MaxDNSLabelLength {
		t.Errorf("namespace %q is %d long", n, len(n))
	}
	if u := long.StorageUser("ns"); len(u) > MaxDNSLabelLength || u == (Preview{App: long.App, PR: 1}).StorageUser("ns") {
		t.Errorf("storage user %q too long or not distinct", u)
	}
	if p.StorageUser("a") == p.StorageUser("b") {
		t.Error("previews of apps in different namespaces share a storage user")
	}
}

// Two tenants may both run an app called web in staging: none of the names
// Plattr generates for them collide, and an app outside any tenant keeps
// the names it had (the seed example in default).
func TestTenantsNeverShareNames(t *testing.T) {
	a, b := app("web", platformv1.EnvironmentStaging, ""), app("web", platformv1.EnvironmentStaging, "")
	a.Namespace, b.Namespace = "alpha-staging", "beta-staging"
	na, nb, shared := For(a, "alpha"), For(b, "beta"), For(app("web", platformv1.EnvironmentStaging, ""), "")
	names := func(n Names) []string {
		d := n.Database()
		return []string{d.Schema, d.AppRole, d.AnonRole, d.Channel, n.Bucket("uploads"), n.BucketsPrefix(), n.StorageUser(), n.Realm(), n.Host("apps.example.com")}
	}
	an, bn, sn := names(na), names(nb), names(shared)
	for i := range an {
		if an[i] == bn[i] || an[i] == sn[i] {
			t.Errorf("name %d collides: %q, %q, %q", i, an[i], bn[i], sn[i])
		}
	}
	if sn[0] != "staging_web" || sn[7] != "staging-web" || sn[8] != "web.staging.apps.example.com" || an[0] != "staging_alpha_web" || an[8] != "web.alpha.staging.apps.example.com" {
		t.Errorf("names = %v / %v", sn, an)
	}
	pa, pb := Preview{App: "web", PR: 1, Tenant: "alpha"}, Preview{App: "web", PR: 1, Tenant: "beta"}
	if pa.Namespace() == pb.Namespace() || pa.Database().Schema == pb.Database().Schema || pa.Host("x") == pb.Host("x") ||
		pa.Bucket("u") == pb.Bucket("u") || pa.Realm() == pb.Realm() || pa.StorageUser("alpha-staging") == pb.StorageUser("beta-staging") {
		t.Errorf("two tenants' previews share a name: %v %v", pa.Namespace(), pb.Namespace())
	}
	if (Preview{App: "web", PR: 1}).Namespace() != "preview-web-pr-1" {
		t.Error("a shared app's preview changed namespace")
	}
}
