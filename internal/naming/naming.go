// Package naming derives every name Plattr generates for an app — SQL schemas
// and roles, Kubernetes objects, hosts — from the app's name and environment.
// All names are valid for their target (PostgreSQL identifiers of at most 63
// bytes, DNS-1123 labels) and stay distinct: a name that would be too long is
// cut and given a hash of the whole name, so two long names never collide.
package naming

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/jackc/pgx/v5"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// MaxIdentifierLength is PostgreSQL's NAMEDATALEN-1: longer identifiers are
// silently truncated by the server, which could make two apps share a role.
const MaxIdentifierLength = 63

// MaxDNSLabelLength is the longest DNS-1123 label.
const MaxDNSLabelLength = 63

// hashLength is how many hex digits of SHA-256 a shortened name carries.
const hashLength = 8

// EnvironmentPrefix is the short form of an environment used in every name.
func EnvironmentPrefix(env platformv1.Environment) string {
	if env == platformv1.EnvironmentProduction {
		return "prod"
	}
	return string(env)
}

// Identifier turns parts into one PostgreSQL identifier: lowercase, only
// [a-z0-9_], joined with '_', starting with a letter or '_', at most 63 bytes.
func Identifier(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('_')
		}
		for _, r := range strings.ToLower(p) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
	}
	id := b.String()
	if id == "" || (id[0] >= '0' && id[0] <= '9') {
		id = "_" + id
	}
	return shorten(id, strings.Join(parts, "\x00"), MaxIdentifierLength, "_")
}

// DNSLabel turns parts into one DNS-1123 label joined with '-'.
func DNSLabel(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('-')
		}
		for _, r := range strings.ToLower(p) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
				b.WriteRune(r)
			default:
				b.WriteByte('-')
			}
		}
	}
	label := strings.Trim(b.String(), "-")
	if label == "" {
		label = "x"
	}
	return shorten(label, strings.Join(parts, "\x00"), MaxDNSLabelLength, "-")
}

// shorten cuts name to max bytes, replacing the tail with sep and a hash of
// the unshortened input so distinct inputs keep distinct results.
func shorten(name, input string, max int, sep string) string {
	if len(name) <= max {
		return name
	}
	sum := sha256.Sum256([]byte(input))
	suffix := sep + hex.EncodeToString(sum[:])[:hashLength]
	head := strings.TrimRight(name[:max-len(suffix)], "_-")
	return head + suffix
}

// QuoteIdentifier quotes a PostgreSQL identifier so reserved words and any
// character are safe in SQL text.
func QuoteIdentifier(id string) string {
	return pgx.Identifier{id}.Sanitize()
}

// Database holds the names of an app's PostgreSQL objects.
type Database struct {
	Schema   string // <prefix>_<schemaName>
	AppRole  string // <prefix>_<app>_app: the login role
	AnonRole string // <prefix>_<app>_anon: PostgREST's anonymous role
	// Channel is the app's own PostgREST notification channel,
	// pgrst_<schema>: on the shared default ("pgrst") every app's NOTIFY
	// would reload every other app's PostgREST.
	Channel string
}

// Objects holds the names of an app's Kubernetes objects.
type Objects struct {
	Workload       string // Deployment, Service, ServiceAccount, HPA, PDB, Ingress
	DatabaseSecret string
	StorageConfig  string
	StorageSecret  string
	AuthConfig     string
	AuthSecret     string
	TLSSecret      string
	// PostgRESTIngress is <app>.rest: a DNS subdomain, which no app name
	// (a DNS label) can produce, so it never is another app's main Ingress.
	PostgRESTIngress string
	// LegacyPostgRESTIngress is the name earlier versions gave it,
	// <app>-api — app web-api's main Ingress too; the operator removes one
	// of that name only when the app controls it.
	LegacyPostgRESTIngress string
}

// ObjectsFor names the Kubernetes objects of an app.
func ObjectsFor(appName string) Objects {
	return Objects{
		Workload:         DNSLabel(appName),
		DatabaseSecret:   DNSLabel(appName, "db"),
		StorageConfig:    DNSLabel(appName, "storage"),
		StorageSecret:    DNSLabel(appName, "storage"),
		AuthConfig:       DNSLabel(appName, "auth"),
		AuthSecret:       DNSLabel(appName, "auth"),
		TLSSecret:        DNSLabel(appName, "tls"),
		PostgRESTIngress: DNSLabel(appName) + ".rest",
		// The legacy name is removed on upgrade, never applied.
		LegacyPostgRESTIngress: DNSLabel(appName, "api"),
	}
}

// Names derives the names of one app. Tenant is the tenant whose
// namespace holds the app, "" in a shared namespace: a tenant's apps carry
// it in every generated name (schema, roles, buckets, object-store user,
// identity client, host), so two tenants may both run an app called web in
// staging. Apps in shared namespaces keep the names they always had.
type Names struct {
	app    *platformv1.Application
	tenant string
}

// For names app, in tenant ("" for none).
func For(app *platformv1.Application, tenant string) Names { return Names{app: app, tenant: tenant} }

// App is the app named.
func (n Names) App() *platformv1.Application { return n.app }

// Tenant is the tenant the names are scoped to.
func (n Names) Tenant() string { return n.tenant }

// prefix is the environment prefix, then the tenant if any.
func (n Names) prefix(parts ...string) []string {
	out := []string{EnvironmentPrefix(n.app.Spec.Environment)}
	if n.tenant != "" {
		out = append(out, n.tenant)
	}
	return append(out, parts...)
}

// Database names the app's PostgreSQL objects.
func (n Names) Database() Database {
	base := n.app.Spec.SchemaBase(n.app.Name)
	return Database{
		Schema:   Identifier(n.prefix(base)...),
		AppRole:  Identifier(n.prefix(n.app.Name, "app")...),
		AnonRole: Identifier(n.prefix(n.app.Name, "anon")...),
		Channel:  Identifier(append([]string{"pgrst"}, n.prefix(base)...)...),
	}
}

// Host is the host an app is served at: the custom domain when set,
// <app>.<BASE_DOMAIN> in production and <app>.<env>.<BASE_DOMAIN> elsewhere
// (<app>.<tenant>.… for a tenant's app).
func (n Names) Host(baseDomain string) string {
	app := n.app
	if app.Spec.Domain != "" {
		return app.Spec.Domain
	}
	labels := []string{DNSLabel(app.Name)}
	if n.tenant != "" {
		labels = append(labels, DNSLabel(n.tenant))
	}
	if app.Spec.Environment != platformv1.EnvironmentProduction {
		labels = append(labels, string(app.Spec.Environment))
	}
	return strings.Join(append(labels, baseDomain), ".")
}

// BucketPrefix starts the name of every bucket Plattr creates.
const BucketPrefix = "plattr-"

// Bucket names one of an app's buckets: plattr-<prefix>-<app>-<bucket>, a
// valid S3 bucket name (lowercase, digits and '-', at most 63).
func (n Names) Bucket(bucket string) string {
	return DNSLabel(append([]string{strings.TrimSuffix(BucketPrefix, "-")}, n.prefix(n.app.Name, bucket)...)...)
}

// BucketEnvVar is the variable that tells the app a bucket's full name:
// S3_BUCKET_<NAME>, uppercased with '-' as '_'.
func BucketEnvVar(bucket string) string {
	return platformv1.StorageBucketKeyPrefix + strings.ToUpper(strings.ReplaceAll(bucket, "-", "_"))
}

// StorageUser is the app's access key ID at the object store:
// plattr-<prefix>-<app>-<hash>, where the hash covers namespace,
// environment and name. Joining them with '-' alone was ambiguous
// (namespace "shop" + app "staging-web" vs namespace "shop-prod" + app
// "web"); the hash makes the name unique to one app.
func (n Names) StorageUser() string {
	app := n.app
	sum := sha256.Sum256([]byte(app.Namespace + "\x00" + string(app.Spec.Environment) + "\x00" + app.Name))
	suffix := "-" + hex.EncodeToString(sum[:])[:hashLength]
	head := DNSLabel(append([]string{"plattr"}, n.prefix(app.Name)...)...)
	if len(head) > MaxDNSLabelLength-len(suffix) {
		head = strings.TrimRight(head[:MaxDNSLabelLength-len(suffix)], "-")
	}
	return head + suffix
}

// LegacyStorageUser is the access key ID versions before StorageUser's hash
// gave an app; the operator removes such a user once the app has its new one.
func (n Names) LegacyStorageUser() string {
	return DNSLabel("plattr", n.app.Namespace, EnvironmentPrefix(n.app.Spec.Environment), n.app.Name)
}

// Realm is the app's identity realm, <prefix>-<app>: a Keycloak realm, a
// Dex client ID. Environment-scoped, so staging and uat never share one.
func (n Names) Realm() string { return DNSLabel(n.prefix(n.app.Name)...) }

// BucketsPrefix is a prefix every bucket name of the app starts with, even
// shortened ones (a shortened name keeps its first 54 bytes). Other apps'
// buckets may share it: the owner tag tells them apart.
func (n Names) BucketsPrefix() string {
	p := DNSLabel(append([]string{strings.TrimSuffix(BucketPrefix, "-")}, n.prefix(n.app.Name)...)...) + "-"
	if len(p) > 50 {
		p = p[:50]
	}
	return p
}
