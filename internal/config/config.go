// Package config reads the operator's configuration from the environment
// (docs/OPERATOR.md#configuration-environment). Every problem is reported at start, naming the variable and the
// fix; there are no built-in passwords.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Operator is the operator's configuration.
type Operator struct {
	DBAdminURL string // DB_ADMIN_URL (this or DB_SECRET_ARN)
	DBHost     string // DB_HOST: host written into app Secrets, when it differs from the admin URL's; with DB_SECRET_ARN, the operator's too
	// DBSecret takes the admin credentials from AWS Secrets Manager
	// instead of DB_ADMIN_URL.
	DBSecret   DBSecret
	BaseDomain string // BASE_DOMAIN (required)

	IngressClass  string // INGRESS_CLASS [nginx]
	ClusterIssuer string // CLUSTER_ISSUER [letsencrypt-prod]
	// IngressNamespace is where the ingress controller runs; previews'
	// NetworkPolicies let it in (INGRESS_NAMESPACE [ingress-nginx]).
	IngressNamespace string

	LeaderElection  bool     // LEADER_ELECTION [false]
	LeaseNamespace  string   // LEASE_NAMESPACE (required with leader election)
	WatchNamespaces []string // WATCH_NAMESPACES, comma-separated [all]
	// PlatformNamespace is the platform team's own namespace, which
	// tenants cannot write: it holds the upstream identity providers'
	// credentials, a Secret plattr-auth.<namespace>.<app> per app
	// (PLATFORM_NAMESPACE [plattr-system]).
	PlatformNamespace string

	MetricsAddr string // METRICS_ADDR [:9090]: /metrics, /healthz, /readyz
	// HealthAddr serves /healthz and /readyz on a port of their own
	// (HEALTH_ADDR, e.g. :8081 [none: only on METRICS_ADDR]), so probes
	// keep working when the metrics port is locked down.
	HealthAddr string
	// LogLevel is info or debug (LOG_LEVEL [info]).
	LogLevel string
	// Pprof serves Go's /debug/pprof/ on the metrics address (PPROF
	// [false]), for profiling memory and CPU at scale.
	Pprof bool

	MaxConcurrentReconciles int     // MAX_CONCURRENT_RECONCILES [32]
	KubeAPIQPS              float32 // KUBE_API_QPS [200]
	KubeAPIBurst            int     // KUBE_API_BURST [400]

	PreviewMaxTTL time.Duration // PREVIEW_MAX_TTL [720h]
	// PreviewCopyMaxSize caps the parent schema a preview may copy
	// (PREVIEW_COPY_MAX_SIZE [1Gi], a Kubernetes quantity).
	PreviewCopyMaxSize int64
	// PreviewCopyFromProduction lets previews copy a production parent's
	// data (PREVIEW_COPY_FROM_PRODUCTION [false]).
	PreviewCopyFromProduction bool
	// EnvironmentNamespaces are kept labelled with their environment and
	// guarded by a quota, limits and a network policy
	// (ENVIRONMENT_NAMESPACES [staging,uat,production]: comma-separated
	// "namespace" — named after its environment — or
	// "namespace=environment"; "none" for none).
	EnvironmentNamespaces []EnvironmentNamespace
	// EnvironmentQuotas replace the built-in ResourceQuota of an
	// environment's namespaces (ENVIRONMENT_QUOTAS: JSON, environment →
	// resource name → quantity, e.g. {"production":{"requests.cpu":"80",
	// "requests.memory":"160Gi","pods":"800"}}; environments not named
	// keep the built-in quota).
	EnvironmentQuotas map[platformv1.Environment]corev1.ResourceList
	// PreviewSweepInterval is how often the leader deletes expired
	// previews, across all namespaces (PREVIEW_SWEEP_INTERVAL [5m]).
	PreviewSweepInterval time.Duration

	// RetryMaxBackoff caps the exponential retry interval of a failing app
	// (1 s, 2 s, 4 s, …) (RETRY_MAX_BACKOFF [5m]).
	RetryMaxBackoff time.Duration
	// ResyncInterval re-checks a settled app for drift no watch reports,
	// such as a schema dropped by hand (RESYNC_INTERVAL [2h], spread ±10 %).
	ResyncInterval time.Duration
	// DriftCheckInterval is how often one catalog query looks for apps
	// whose schema, role or password drifted (DRIFT_CHECK_INTERVAL [1m]).
	DriftCheckInterval time.Duration
	// ProgressDeadline is the Deployments' progressDeadlineSeconds: a rollout
	// that makes no progress for this long turns the app Failed with the
	// pods' reason (DEPLOYMENT_PROGRESS_DEADLINE [10m]).
	ProgressDeadline time.Duration

	// DBAppConnectionLimit is each app role's CONNECTION LIMIT
	// (DB_APP_CONNECTION_LIMIT [20]; -1 for none).
	DBAppConnectionLimit int

	// AllowedDomainSuffixes are the suffixes an app in a shared namespace
	// may use as spec.domain (ALLOWED_DOMAIN_SUFFIXES, comma-separated
	// [none: no custom domains outside tenants' spec.domains]).
	AllowedDomainSuffixes []string
	// ReservedHosts no app may be served at, beside the identity
	// provider's host (RESERVED_HOSTS, comma-separated: the platform API's
	// host, the portal's, …). See PlatformHosts.
	ReservedHosts []string

	S3   S3   // object storage; optional: without it apps asking for storage wait
	NATS NATS // messaging; optional (NATS_URL)

	Auth Auth // identity provider; optional: without it apps asking for auth wait

	// PlatformAPINamespace and PlatformAPIPodLabels find the platform API's
	// pods, which the default NetworkPolicy lets in so its status poller
	// reaches apps (PLATFORM_API_NAMESPACE [plattr-system],
	// PLATFORM_API_POD_LABELS, key=value,… [app.kubernetes.io/name=plattr-api]).
	PlatformAPINamespace string
	PlatformAPIPodLabels map[string]string
	// EgressDenyCIDRs are the platform's admin endpoints (database admin,
	// object-store admin API, identity provider admin) that apps' egress
	// must not reach (EGRESS_DENY_CIDRS, comma-separated CIDRs); the cloud
	// metadata addresses are always denied.
	EgressDenyCIDRs []string
}

// DBSecret locates the admin credentials in AWS Secrets Manager
// (DB_SECRET_ARN in docs/OPERATOR.md). ARN empty means DB_ADMIN_URL is used.
type DBSecret struct {
	ARN     string        // DB_SECRET_ARN
	Region  string        // AWS_REGION [the ARN's region]
	Refresh time.Duration // DB_SECRET_REFRESH_INTERVAL [5m]
	DBName  string        // DB_NAME [the secret's dbname, else postgres]
	SSLMode string        // DB_SSLMODE [require]
}

// EnvironmentNamespace is one namespace of one environment.
type EnvironmentNamespace struct {
	Namespace   string
	Environment platformv1.Environment
}

// S3 locates the object store. Endpoint empty means none is configured.
type S3 struct {
	Endpoint      string // S3_ENDPOINT, path-style, e.g. https://s3.example.com
	Region        string // S3_REGION [us-east-1]
	AccessKey     string // S3_ACCESS_KEY_ID (required with S3_ENDPOINT)
	SecretKey     string // S3_SECRET_ACCESS_KEY (required with S3_ENDPOINT)
	AdminEndpoint string // S3_ADMIN_ENDPOINT: versitygw's admin API, for per-app keys
	// AllowSharedKeys (S3_ALLOW_SHARED_KEYS [false]) lets apps use the
	// platform's own keys when the store has no per-app users. Those keys
	// reach every bucket, so without this opt-in storage is refused.
	AllowSharedKeys bool
}

// Auth selects and locates the identity provider.
type Auth struct {
	Provider string // AUTH_PROVIDER: keycloak or dex [whichever is configured]

	KeycloakURL           string // KEYCLOAK_URL
	KeycloakAdminUser     string // KEYCLOAK_ADMIN_USER
	KeycloakAdminPassword string // KEYCLOAK_ADMIN_PASSWORD

	DexIssuer           string   // DEX_ISSUER_URL
	DexNamespace        string   // DEX_NAMESPACE [plattr-system]: where Dex's custom resources live
	DexSharedConnectors []string // DEX_SHARED_CONNECTORS: connector IDs every client may use

	// ProvidersSecret names the Secret, in each app's namespace, that held
	// the upstream identity providers' credentials before they moved to
	// PLATFORM_NAMESPACE (AUTH_PROVIDERS_SECRET [plattr-auth-providers]).
	// Its tenant can write it, so it is never read: an app that still has
	// it is told where the credentials go now.
	ProvidersSecret string
}

// Identity providers.
const (
	AuthKeycloak = "keycloak"
	AuthDex      = "dex"
)

// FromEnv reads the configuration from the process environment.
func FromEnv() (Operator, error) { return Parse(os.Getenv) }

// Parse reads the configuration through getenv and reports every problem
// at once.
func Parse(getenv func(string) string) (Operator, error) {
	env := &Env{Getenv: getenv}
	get, required, integer, boolean, duration := env.Get, env.Required, env.Int, env.Bool, env.Duration
	fail := env.Fail
	c := Operator{
		DBAdminURL:              get("DB_ADMIN_URL", ""),
		DBHost:                  get("DB_HOST", ""),
		BaseDomain:              required("BASE_DOMAIN", "set it to the domain apps are served under, e.g. apps.example.com"),
		IngressClass:            get("INGRESS_CLASS", "nginx"),
		ClusterIssuer:           get("CLUSTER_ISSUER", "letsencrypt-prod"),
		IngressNamespace:        get("INGRESS_NAMESPACE", "ingress-nginx"),
		LeaseNamespace:          get("LEASE_NAMESPACE", ""),
		PlatformNamespace:       get("PLATFORM_NAMESPACE", "plattr-system"),
		MetricsAddr:             get("METRICS_ADDR", ":9090"),
		HealthAddr:              get("HEALTH_ADDR", ""),
		LogLevel:                strings.ToLower(get("LOG_LEVEL", "info")),
		MaxConcurrentReconciles: integer("MAX_CONCURRENT_RECONCILES", DefaultMaxConcurrentReconciles),
		KubeAPIQPS:              float32(integer("KUBE_API_QPS", 200)),
		KubeAPIBurst:            integer("KUBE_API_BURST", 400),
	}
	c.NATS = parseNATS(get, fail)
	c.DBSecret = DBSecret{
		ARN:     get("DB_SECRET_ARN", ""),
		Region:  get("AWS_REGION", ""),
		Refresh: duration("DB_SECRET_REFRESH_INTERVAL", 5*time.Minute),
		DBName:  get("DB_NAME", ""),
		SSLMode: get("DB_SSLMODE", "require"),
	}
	switch {
	case c.DBAdminURL == "" && c.DBSecret.ARN == "":
		fail(errors.New("DB_ADMIN_URL is not set: set it to the PostgreSQL admin connection, postgres://user:password@host:5432/db, or set DB_SECRET_ARN and DB_HOST to read the credentials from AWS Secrets Manager"))
	case c.DBAdminURL != "" && c.DBSecret.ARN != "":
		fail(errors.New("DB_ADMIN_URL and DB_SECRET_ARN are both set: keep one"))
	case c.DBSecret.ARN != "":
		if !strings.HasPrefix(c.DBSecret.ARN, "arn:") || !strings.Contains(c.DBSecret.ARN, ":secretsmanager:") {
			fail(fmt.Errorf("DB_SECRET_ARN=%q: want a Secrets Manager ARN, arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME", c.DBSecret.ARN))
		}
		if c.DBHost == "" {
			fail(errors.New("DB_HOST is not set: with DB_SECRET_ARN it names the database endpoint, e.g. the Aurora cluster endpoint"))
		}
		switch c.DBSecret.SSLMode {
		case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
		default:
			fail(fmt.Errorf("DB_SSLMODE=%q: want disable, allow, prefer, require, verify-ca or verify-full", c.DBSecret.SSLMode))
		}
	}
	if c.DBAdminURL != "" {
		u, err := url.Parse(c.DBAdminURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			// The value is not quoted: it holds a password.
			fail(errors.New("DB_ADMIN_URL is not a PostgreSQL URL: want postgres://user:password@host:5432/db"))
		}
	}
	if c.LogLevel != "info" && c.LogLevel != "debug" {
		fail(fmt.Errorf("LOG_LEVEL=%q: want info or debug", c.LogLevel))
	}
	c.LeaderElection = boolean("LEADER_ELECTION", false)
	c.Pprof = boolean("PPROF", false)
	if c.LeaderElection && c.LeaseNamespace == "" {
		fail(errors.New("LEASE_NAMESPACE is not set: leader election needs the namespace of its Lease, e.g. plattr-system"))
	}
	if errs := validation.IsDNS1123Label(c.PlatformNamespace); len(errs) > 0 {
		fail(fmt.Errorf("PLATFORM_NAMESPACE=%q is not a namespace name (%s): set it to the platform team's namespace, e.g. plattr-system", c.PlatformNamespace, strings.Join(errs, "; ")))
	}
	c.RetryMaxBackoff = duration("RETRY_MAX_BACKOFF", 5*time.Minute)
	c.ResyncInterval = duration("RESYNC_INTERVAL", 2*time.Hour)
	c.DriftCheckInterval = duration("DRIFT_CHECK_INTERVAL", time.Minute)
	c.ProgressDeadline = duration("DEPLOYMENT_PROGRESS_DEADLINE", 10*time.Minute)
	c.PreviewSweepInterval = duration("PREVIEW_SWEEP_INTERVAL", 5*time.Minute)
	c.PreviewCopyFromProduction = boolean("PREVIEW_COPY_FROM_PRODUCTION", false)
	if q, err := resource.ParseQuantity(get("PREVIEW_COPY_MAX_SIZE", "1Gi")); err != nil || q.Sign() < 0 {
		fail(fmt.Errorf("PREVIEW_COPY_MAX_SIZE=%q: want a size such as 512Mi or 2Gi", get("PREVIEW_COPY_MAX_SIZE", "")))
	} else {
		c.PreviewCopyMaxSize = q.Value()
	}
	envs, err := parseEnvironmentNamespaces(get("ENVIRONMENT_NAMESPACES", "staging,uat,production"))
	if err != nil {
		fail(err)
	}
	c.EnvironmentNamespaces = envs
	if q, err := parseEnvironmentQuotas(get("ENVIRONMENT_QUOTAS", "")); err != nil {
		fail(err)
	} else {
		c.EnvironmentQuotas = q
	}
	if c.ProgressDeadline < time.Second {
		fail(errors.New("DEPLOYMENT_PROGRESS_DEADLINE must be at least 1s"))
	}
	c.DBAppConnectionLimit = 20
	if v := get("DB_APP_CONNECTION_LIMIT", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 || n == 0 {
			fail(fmt.Errorf("DB_APP_CONNECTION_LIMIT=%q: want a positive number of connections, or -1 for no limit", v))
		} else {
			c.DBAppConnectionLimit = n
		}
	}
	for _, ns := range strings.Split(get("WATCH_NAMESPACES", ""), ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			c.WatchNamespaces = append(c.WatchNamespaces, ns)
		}
	}
	c.S3 = S3{
		Endpoint:      get("S3_ENDPOINT", ""),
		Region:        get("S3_REGION", "us-east-1"),
		AccessKey:     get("S3_ACCESS_KEY_ID", ""),
		SecretKey:     get("S3_SECRET_ACCESS_KEY", ""),
		AdminEndpoint: get("S3_ADMIN_ENDPOINT", ""),
	}
	c.S3.AllowSharedKeys = boolean("S3_ALLOW_SHARED_KEYS", false)
	if c.S3.Endpoint != "" {
		if !isHTTPURL(c.S3.Endpoint) {
			fail(fmt.Errorf("S3_ENDPOINT=%q: want http(s)://host[:port]", c.S3.Endpoint))
		}
		if c.S3.AccessKey == "" || c.S3.SecretKey == "" {
			fail(errors.New("S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set with S3_ENDPOINT: the object store's admin keys"))
		}
		if c.S3.AdminEndpoint != "" && !isHTTPURL(c.S3.AdminEndpoint) {
			fail(fmt.Errorf("S3_ADMIN_ENDPOINT=%q: want http(s)://host[:port]", c.S3.AdminEndpoint))
		}
	} else if c.S3.AdminEndpoint != "" {
		fail(errors.New("S3_ADMIN_ENDPOINT is set without S3_ENDPOINT: set S3_ENDPOINT too"))
	}

	c.Auth = Auth{
		Provider:              strings.ToLower(get("AUTH_PROVIDER", "")),
		KeycloakURL:           get("KEYCLOAK_URL", ""),
		KeycloakAdminUser:     get("KEYCLOAK_ADMIN_USER", ""),
		KeycloakAdminPassword: get("KEYCLOAK_ADMIN_PASSWORD", ""),
		DexIssuer:             get("DEX_ISSUER_URL", ""),
		DexNamespace:          get("DEX_NAMESPACE", "plattr-system"),
		ProvidersSecret:       get("AUTH_PROVIDERS_SECRET", "plattr-auth-providers"),
	}
	for _, id := range strings.Split(get("DEX_SHARED_CONNECTORS", ""), ",") {
		if id = strings.TrimSpace(id); id != "" {
			c.Auth.DexSharedConnectors = append(c.Auth.DexSharedConnectors, id)
		}
	}
	if c.Auth.Provider == "" {
		switch {
		case c.Auth.KeycloakURL != "" && c.Auth.DexIssuer != "":
			fail(errors.New("both KEYCLOAK_URL and DEX_ISSUER_URL are set: set AUTH_PROVIDER to keycloak or dex"))
		case c.Auth.KeycloakURL != "":
			c.Auth.Provider = AuthKeycloak
		case c.Auth.DexIssuer != "":
			c.Auth.Provider = AuthDex
		}
	}
	switch c.Auth.Provider {
	case "":
	case AuthKeycloak:
		if !isHTTPURL(c.Auth.KeycloakURL) {
			fail(fmt.Errorf("KEYCLOAK_URL=%q: want Keycloak's base URL, e.g. https://auth.example.com", c.Auth.KeycloakURL))
		}
		if c.Auth.KeycloakAdminUser == "" || c.Auth.KeycloakAdminPassword == "" {
			fail(errors.New("KEYCLOAK_ADMIN_USER and KEYCLOAK_ADMIN_PASSWORD must be set with KEYCLOAK_URL: an admin of the master realm"))
		}
	case AuthDex:
		if !isHTTPURL(c.Auth.DexIssuer) {
			fail(fmt.Errorf("DEX_ISSUER_URL=%q: want Dex's issuer URL, e.g. https://dex.example.com/dex", c.Auth.DexIssuer))
		}
	default:
		fail(fmt.Errorf("AUTH_PROVIDER=%q: want keycloak or dex", c.Auth.Provider))
	}

	c.AllowedDomainSuffixes, c.ReservedHosts = parseHosts(env)

	c.PlatformAPINamespace = get("PLATFORM_API_NAMESPACE", "plattr-system")
	if labels, err := ParseLabels(get("PLATFORM_API_POD_LABELS", "app.kubernetes.io/name=plattr-api")); err != nil {
		fail(fmt.Errorf("PLATFORM_API_POD_LABELS: %w", err))
	} else {
		c.PlatformAPIPodLabels = labels
	}
	for _, cidr := range env.List("EGRESS_DENY_CIDRS") {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			fail(fmt.Errorf("EGRESS_DENY_CIDRS: %q is not a CIDR such as 10.0.5.0/24 or 10.0.5.7/32", cidr))
			continue
		}
		c.EgressDenyCIDRs = append(c.EgressDenyCIDRs, cidr)
	}
	ttl := get("PREVIEW_MAX_TTL", "720h")
	d, err := ParseTTL(ttl)
	if err != nil {
		fail(fmt.Errorf("PREVIEW_MAX_TTL=%q: %w", ttl, err))
	}
	c.PreviewMaxTTL = d
	return c, env.Err()
}

// ParseTTL reads a duration written as a number and a unit m, h or d.
func ParseTTL(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, errors.New("want a number followed by m, h or d, like 72h")
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive number followed by m, h or d, like 72h")
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[s[len(s)-1]]
	if unit == 0 {
		return 0, errors.New("want a unit of m, h or d, like 72h")
	}
	// A count past what a Duration holds would wrap around to a negative
	// (already expired) or short TTL.
	if time.Duration(n) > math.MaxInt64/unit {
		return 0, errors.New("too long: want at most 106751d")
	}
	return time.Duration(n) * unit, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// WithDefaults fills the settings a caller left at zero (tests build an
// Operator by hand) with the defaults Parse uses.
func (c Operator) WithDefaults() Operator {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.RetryMaxBackoff, 5*time.Minute)
	def(&c.ResyncInterval, 2*time.Hour)
	def(&c.DriftCheckInterval, time.Minute)
	def(&c.ProgressDeadline, 10*time.Minute)
	def(&c.PreviewSweepInterval, 5*time.Minute)
	if c.PreviewCopyMaxSize == 0 {
		c.PreviewCopyMaxSize = 1 << 30
	}
	if c.IngressNamespace == "" {
		c.IngressNamespace = "ingress-nginx"
	}
	if c.PlatformNamespace == "" {
		c.PlatformNamespace = "plattr-system"
	}
	def(&c.PreviewMaxTTL, 720*time.Hour)
	if c.DBAppConnectionLimit == 0 {
		c.DBAppConnectionLimit = 20
	}
	if c.MaxConcurrentReconciles == 0 {
		c.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if c.PlatformAPINamespace == "" {
		c.PlatformAPINamespace = "plattr-system"
	}
	if c.PlatformAPIPodLabels == nil {
		c.PlatformAPIPodLabels = map[string]string{"app.kubernetes.io/name": "plattr-api"}
	}
	return c
}

// ParseLabels reads key=value pairs separated by commas, each a valid
// Kubernetes label, at least one.
func ParseLabels(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want key=value", kv)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a label key: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(val); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a label value: %s", val, strings.Join(errs, "; "))
		}
		out[k] = val
	}
	if len(out) == 0 {
		return nil, errors.New("want at least one key=value label")
	}
	return out, nil
}

// parseEnvironmentQuotas reads ENVIRONMENT_QUOTAS.
func parseEnvironmentQuotas(v string) (map[platformv1.Environment]corev1.ResourceList, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	// Quantities may be JSON strings or numbers (Helm writes pods: 800 as a number).
	var raw map[string]map[string]any
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, fmt.Errorf(`ENVIRONMENT_QUOTAS is not JSON of the form {"production":{"requests.cpu":"80","requests.memory":"160Gi","pods":"800"}}: %v`, err)
	}
	out := map[platformv1.Environment]corev1.ResourceList{}
	var bad []string
	for env, resources := range raw {
		e := platformv1.Environment(env)
		switch e {
		case platformv1.EnvironmentStaging, platformv1.EnvironmentUAT, platformv1.EnvironmentProduction, platformv1.EnvironmentPreview:
		default:
			bad = append(bad, fmt.Sprintf("%q is not an environment (staging, uat, production, preview)", env))
			continue
		}
		list := corev1.ResourceList{}
		for name, v := range resources {
			qty := fmt.Sprint(v)
			q, err := resource.ParseQuantity(qty)
			if err != nil || q.Sign() < 0 {
				bad = append(bad, fmt.Sprintf("%s.%s=%q is not a quantity such as 40, 500m or 80Gi", env, name, qty))
				continue
			}
			list[corev1.ResourceName(name)] = q
		}
		out[e] = list
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return nil, fmt.Errorf("ENVIRONMENT_QUOTAS: %s", strings.Join(bad, "; "))
	}
	return out, nil
}

// parseEnvironmentNamespaces reads ENVIRONMENT_NAMESPACES.
func parseEnvironmentNamespaces(v string) ([]EnvironmentNamespace, error) {
	if strings.TrimSpace(v) == "none" {
		return nil, nil
	}
	var out []EnvironmentNamespace
	var bad []string
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		ns, env, found := strings.Cut(item, "=")
		if !found {
			env = ns
		}
		e := platformv1.Environment(strings.TrimSpace(env))
		ns = strings.TrimSpace(ns)
		switch e {
		case platformv1.EnvironmentStaging, platformv1.EnvironmentUAT, platformv1.EnvironmentProduction, platformv1.EnvironmentPreview:
		default:
			bad = append(bad, item)
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			bad = append(bad, item)
			continue
		}
		out = append(out, EnvironmentNamespace{Namespace: ns, Environment: e})
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("ENVIRONMENT_NAMESPACES=%q: %s not understood; want namespaces named after their environment (staging,uat,production), or namespace=environment pairs (shop-prod=production), or none",
			v, strings.Join(bad, ", "))
	}
	return out, nil
}
