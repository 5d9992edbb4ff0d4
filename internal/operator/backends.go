package operator

// The backing services: connecting to each from the configuration, and
// probing them for plattr_backend_up.

import (
	"cmp"
	"context"
	"net"
	"net/url"
	"strconv"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/awssecrets"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/wake"
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/objectstore"
)

// openDatabase opens the admin connection pool: from DB_ADMIN_URL, or
// from DB_HOST with the credentials in AWS Secrets Manager (DB_SECRET_ARN),
// read at start — a missing permission stops the operator with the reason —
// and again on rotation.
func openDatabase(ctx context.Context, cfg config.Operator) (*database.Provisioner, error) {
	opts := database.Options{ConnectionLimit: cfg.DBAppConnectionLimit, MaxConns: cfg.DBPoolSize()}
	if cfg.DBSecret.ARN == "" {
		return database.New(ctx, cfg.DBAdminURL, cfg.DBHost, opts)
	}
	src, err := awssecrets.New(ctx, cfg.DBSecret.ARN, cfg.DBSecret.Region, cfg.DBSecret.Refresh)
	if err != nil {
		return nil, err
	}
	creds, err := src.Get(ctx)
	if err != nil {
		return nil, err
	}
	host := cfg.DBHost
	if _, _, err := net.SplitHostPort(host); err != nil {
		port := creds.Port
		if port == 0 {
			port = 5432
		}
		host = net.JoinHostPort(host, strconv.Itoa(port))
	}
	dbname := cmp.Or(cfg.DBSecret.DBName, creds.DBName, "postgres")
	admin := url.URL{Scheme: "postgres", User: url.User(creds.Username), Host: host, Path: "/" + dbname,
		RawQuery: url.Values{"sslmode": {cfg.DBSecret.SSLMode}}.Encode()}
	opts.Credentials = func(ctx context.Context) (string, string, error) {
		c, err := src.Get(ctx)
		return c.Username, c.Password, err
	}
	opts.AuthFailed = src.Invalidate
	return database.New(ctx, admin.String(), "", opts)
}

// backendProbe sets plattr_backend_up for each backing service every
// interval, on every replica: the PlattrBackingServiceUnavailable alert
// fires when none reaches it, whether or not an app is waiting for it.
type backendProbe struct {
	pings    map[string]func(context.Context) error
	interval time.Duration
}

func (b *backendProbe) NeedLeaderElection() bool { return false }

func (b *backendProbe) Start(ctx context.Context) error {
	return wake.Periodically(ctx, b.interval, func(ctx context.Context) {
		for name, ping := range b.pings {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			up := 0.0
			if ping(pctx) == nil {
				up = 1
			}
			cancel()
			metrics.BackendUp.WithLabelValues(name).Set(up)
		}
	})
}

// objectStore connects to the configured object store; nil when none is.
func objectStore(c config.S3) (*objectstore.Store, error) {
	if c.Endpoint == "" {
		return nil, nil
	}
	return objectstore.New(objectstore.Config{
		Endpoint: c.Endpoint, Region: c.Region, AccessKey: c.AccessKey, SecretKey: c.SecretKey,
		AdminEndpoint: c.AdminEndpoint,
	})
}

// identityProvider builds the configured identity provider; nil when none is.
func identityProvider(c config.Auth, cl client.Client) identity.Provider {
	switch c.Provider {
	case config.AuthKeycloak:
		return &identity.Keycloak{URL: c.KeycloakURL, User: c.KeycloakAdminUser, Password: c.KeycloakAdminPassword}
	case config.AuthDex:
		return &identity.Dex{Issuer: c.DexIssuer, Namespace: c.DexNamespace, Client: cl, SharedConnectors: c.DexSharedConnectors}
	}
	return nil
}
