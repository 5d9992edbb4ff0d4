package platformapi

import (
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/platformapi/costs"
	"github.com/plattr/plattr/internal/platformapi/statuspoll"
)

// Config is the platform API's configuration, from the environment.
type Config struct {
	DatabaseURL string // DATABASE_URL (required): the API's own database
	ListenAddr  string // LISTEN_ADDR [:8080]: API, portal, /healthz, /readyz
	// MetricsAddr serves /metrics on a listener of its own (METRICS_ADDR
	// [:9091]; "0" turns it off), so the API's public address does not
	// answer anonymous scrapes.
	MetricsAddr string
	// PublicURL is where browsers reach the API (PUBLIC_URL), for the
	// sign-in redirect; required with OIDC.
	PublicURL string

	OIDCIssuer       string // OIDC_ISSUER_URL
	OIDCClientID     string // OIDC_CLIENT_ID
	OIDCClientSecret string // OIDC_CLIENT_SECRET

	// SiteAdmins are the emails of the first site admins (SITE_ADMINS,
	// comma-separated).
	SiteAdmins []string
	SessionTTL time.Duration // SESSION_TTL [12h]
	// TokenMaxTTL caps an API token's lifetime (TOKEN_MAX_TTL [365d], as
	// 90d, 720h or 30m; "none" allows tokens that never expire).
	TokenMaxTTL time.Duration
	// LoginRateLimit is how many sign-ins a client address may start per
	// minute (LOGIN_RATE_LIMIT [20]; 0 turns the limit off);
	// TrustedProxies are the CIDRs of proxies whose X-Forwarded-For names
	// the client (TRUSTED_PROXIES, comma-separated [none]).
	LoginRateLimit int
	TrustedProxies []netip.Prefix

	// The event stream: connections per user on each replica
	// (STREAM_MAX_PER_USER [20]), how often a stream re-checks its caller's
	// token or session besides when one changes (STREAM_RECHECK_INTERVAL
	// [1m]), how long one write may take (STREAM_WRITE_TIMEOUT [30s]) and
	// how many events a resuming client is replayed before it is told to
	// reload instead (STREAM_MAX_REPLAY [10000]).
	StreamMaxPerUser      int
	StreamRecheckInterval time.Duration
	StreamWriteTimeout    time.Duration
	StreamMaxReplay       int

	// TaskLease is how long a replica holds a task before another may take
	// it over (TASK_LEASE [2m]).
	TaskLease time.Duration
	// EventRetention is how long the change feed keeps events for
	// resuming clients (EVENT_RETENTION [168h]).
	EventRetention  time.Duration
	DBMaxConns      int      // DB_MAX_CONNS [20]
	WatchNamespaces []string // WATCH_NAMESPACES [all]
	// StatusPollInterval and StatusPollTimeout pace the polling of apps'
	// status paths (STATUS_POLL_INTERVAL [15s], STATUS_POLL_TIMEOUT [10s]);
	// StatusURLTemplate is where an app is reached, with {name},
	// {namespace} and {path} (STATUS_URL_TEMPLATE
	// [http://{name}.{namespace}.svc{path}]).
	StatusPollInterval time.Duration
	StatusPollTimeout  time.Duration
	StatusURLTemplate  string
	// Prices are the cost table (PRICE_CPU_CORE_HOUR [0.0316],
	// PRICE_MEMORY_GIB_HOUR [0.0042], CURRENCY [USD]); CostSampleInterval
	// is how often requests are sampled (COST_SAMPLE_INTERVAL [5m]).
	Prices             costs.Prices
	CostSampleInterval time.Duration
	// ClusterName names the cluster in /api/v1/clusters (CLUSTER_NAME [local]).
	ClusterName string
	// Replica names this process in task claims (REPLICA_ID [hostname-pid]).
	Replica string

	// Keyless CI: GitHub Actions ID tokens are accepted when
	// GITHUB_OIDC_AUDIENCE is set (the aud jobs ask for, e.g. plattr).
	// GITHUB_OIDC_ISSUER [https://token.actions.githubusercontent.com];
	// GITHUB_ALLOWED_OWNERS (comma-separated [any]) limits the repository
	// owners; GITHUB_PRODUCTION_ENVIRONMENT [none] names the protected
	// GitHub environment whose jobs may deploy production from any branch.
	GitHubOIDCIssuer            string
	GitHubOIDCAudience          string
	GitHubAllowedOwners         []string
	GitHubProductionEnvironment string
	// StatusDebounce spaces the writes of a status body that keeps
	// changing (STATUS_DEBOUNCE [60s]).
	StatusDebounce time.Duration
	// TenantsPerUser is how many tenants a user who is not a site admin
	// may create (TENANTS_PER_USER [3]).
	TenantsPerUser int
}

// ConfigFromEnv reads the configuration from the process environment.
func ConfigFromEnv() (Config, error) { return ParseConfig(os.Getenv) }

// ParseConfig reads the configuration through getenv and reports every
// problem at once.
func ParseConfig(getenv func(string) string) (Config, error) {
	env := &config.Env{Getenv: getenv}
	c := Config{
		DatabaseURL:      env.Required("DATABASE_URL", "set it to the platform API's PostgreSQL database, postgres://user:password@host:5432/db"),
		ListenAddr:       env.Get("LISTEN_ADDR", ":8080"),
		MetricsAddr:      env.Get("METRICS_ADDR", ":9091"),
		PublicURL:        strings.TrimRight(env.Get("PUBLIC_URL", ""), "/"),
		OIDCIssuer:       env.Get("OIDC_ISSUER_URL", ""),
		OIDCClientID:     env.Get("OIDC_CLIENT_ID", ""),
		OIDCClientSecret: env.Get("OIDC_CLIENT_SECRET", ""),
		SessionTTL:       env.Duration("SESSION_TTL", 12*time.Hour),

		StreamMaxPerUser:      env.Int("STREAM_MAX_PER_USER", 20),
		StreamRecheckInterval: env.Duration("STREAM_RECHECK_INTERVAL", time.Minute),
		StreamWriteTimeout:    env.Duration("STREAM_WRITE_TIMEOUT", 30*time.Second),
		StreamMaxReplay:       env.Int("STREAM_MAX_REPLAY", 10000),
		TaskLease:             env.Duration("TASK_LEASE", 2*time.Minute),
		EventRetention:        env.Duration("EVENT_RETENTION", 7*24*time.Hour),
		DBMaxConns:            env.Int("DB_MAX_CONNS", 20),
		WatchNamespaces:       env.List("WATCH_NAMESPACES"),

		ClusterName: env.Get("CLUSTER_NAME", "local"),
		Prices: costs.Prices{
			CPUCoreHour:   env.Float("PRICE_CPU_CORE_HOUR", 0.0316),
			MemoryGiBHour: env.Float("PRICE_MEMORY_GIB_HOUR", 0.0042),
			Currency:      env.Get("CURRENCY", "USD"),
		},
		CostSampleInterval: env.Duration("COST_SAMPLE_INTERVAL", 5*time.Minute),
		StatusPollInterval: env.Duration("STATUS_POLL_INTERVAL", 15*time.Second),
		StatusPollTimeout:  env.Duration("STATUS_POLL_TIMEOUT", 10*time.Second),
		StatusURLTemplate:  env.Get("STATUS_URL_TEMPLATE", statuspoll.DefaultURLTemplate),
	}
	if !strings.Contains(c.StatusURLTemplate, "{path}") {
		env.Fail(fmt.Errorf("STATUS_URL_TEMPLATE=%q: it must contain {path} (and usually {name} and {namespace})", c.StatusURLTemplate))
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			env.Fail(errors.New("DATABASE_URL is not a PostgreSQL URL: want postgres://user:password@host:5432/db"))
		}
	}
	for _, e := range env.List("SITE_ADMINS") {
		if a, err := mail.ParseAddress(e); err != nil || a.Name != "" {
			env.Fail(fmt.Errorf("SITE_ADMINS: %q is not an email address", e))
			continue
		}
		c.SiteAdmins = append(c.SiteAdmins, strings.ToLower(e))
	}
	oidcSet := 0
	for _, v := range []string{c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret} {
		if v != "" {
			oidcSet++
		}
	}
	switch {
	case oidcSet > 0 && oidcSet < 3:
		env.Fail(errors.New("OIDC_ISSUER_URL, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET go together: set all three for browser sign-in, or none for tokens only"))
	case oidcSet == 3:
		if u, err := url.Parse(c.OIDCIssuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			env.Fail(fmt.Errorf("OIDC_ISSUER_URL=%q: want the provider's issuer URL, e.g. https://dex.example.com/dex", c.OIDCIssuer))
		}
		if c.PublicURL == "" {
			env.Fail(errors.New("PUBLIC_URL is not set: browser sign-in needs the URL browsers reach the API at, e.g. https://platform.example.com"))
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			env.Fail(fmt.Errorf("PUBLIC_URL=%q: want http(s)://host[:port]", c.PublicURL))
		}
	}
	switch v := env.Get("TOKEN_MAX_TTL", "365d"); v {
	case "none":
	default:
		d, err := config.ParseTTL(v)
		if err != nil {
			env.Fail(fmt.Errorf("TOKEN_MAX_TTL=%q: %v, or \"none\" for no cap", v, err))
		}
		c.TokenMaxTTL = d
	}
	for _, p := range env.List("TRUSTED_PROXIES") {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			if a, aerr := netip.ParseAddr(p); aerr == nil {
				pfx, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			env.Fail(fmt.Errorf("TRUSTED_PROXIES: %q is not an address or CIDR such as 10.0.0.0/8", p))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx)
	}
	// 0 is allowed here (no limit), unlike env.Int.
	c.LoginRateLimit = 20
	if v := env.Get("LOGIN_RATE_LIMIT", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			env.Fail(fmt.Errorf("LOGIN_RATE_LIMIT=%q: want sign-ins per minute per client, or 0 for no limit", v))
		} else {
			c.LoginRateLimit = n
		}
	}
	c.GitHubOIDCIssuer = strings.TrimRight(env.Get("GITHUB_OIDC_ISSUER", "https://token.actions.githubusercontent.com"), "/")
	c.GitHubOIDCAudience = env.Get("GITHUB_OIDC_AUDIENCE", "")
	c.GitHubAllowedOwners = env.List("GITHUB_ALLOWED_OWNERS")
	c.GitHubProductionEnvironment = env.Get("GITHUB_PRODUCTION_ENVIRONMENT", "")
	if c.GitHubOIDCAudience != "" {
		if u, err := url.Parse(c.GitHubOIDCIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			env.Fail(fmt.Errorf("GITHUB_OIDC_ISSUER=%q: want the token issuer's URL, https://token.actions.githubusercontent.com", c.GitHubOIDCIssuer))
		}
	}
	c.StatusDebounce = env.Duration("STATUS_DEBOUNCE", statuspoll.DefaultDebounce)
	c.TenantsPerUser = env.Int("TENANTS_PER_USER", 3)
	c.Replica = env.Get("REPLICA_ID", "")
	if c.Replica == "" {
		host, _ := os.Hostname()
		c.Replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return c, env.Err()
}

// GitHubEnabled reports whether GitHub Actions ID tokens are accepted.
func (c Config) GitHubEnabled() bool { return c.GitHubOIDCAudience != "" }

// OIDCEnabled reports whether browser sign-in is configured.
func (c Config) OIDCEnabled() bool { return c.OIDCIssuer != "" }
