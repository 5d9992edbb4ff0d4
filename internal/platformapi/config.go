package platformapi

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/platformapi/costs"
	"github.com/plattr/plattr/internal/platformapi/statuspoll"
)

// Config is the platform API's configuration, from the environment.
type Config struct {
	DatabaseURL string // DATABASE_URL (required): the API's own database
	ListenAddr  string // LISTEN_ADDR [:8080]: API, portal, /healthz, /readyz, /metrics
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
		PublicURL:        strings.TrimRight(env.Get("PUBLIC_URL", ""), "/"),
		OIDCIssuer:       env.Get("OIDC_ISSUER_URL", ""),
		OIDCClientID:     env.Get("OIDC_CLIENT_ID", ""),
		OIDCClientSecret: env.Get("OIDC_CLIENT_SECRET", ""),
		SessionTTL:       env.Duration("SESSION_TTL", 12*time.Hour),
		TaskLease:        env.Duration("TASK_LEASE", 2*time.Minute),
		EventRetention:   env.Duration("EVENT_RETENTION", 7*24*time.Hour),
		DBMaxConns:       env.Int("DB_MAX_CONNS", 20),
		WatchNamespaces:  env.List("WATCH_NAMESPACES"),

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
	c.StatusDebounce = env.Duration("STATUS_DEBOUNCE", statuspoll.DefaultDebounce)
	c.TenantsPerUser = env.Int("TENANTS_PER_USER", 3)
	c.Replica = env.Get("REPLICA_ID", "")
	if c.Replica == "" {
		host, _ := os.Hostname()
		c.Replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return c, env.Err()
}

// OIDCEnabled reports whether browser sign-in is configured.
func (c Config) OIDCEnabled() bool { return c.OIDCIssuer != "" }
