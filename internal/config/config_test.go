package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings the error must contain
		check   func(t *testing.T, c Operator)
	}{
		{
			name:    "nothing set names both required variables",
			env:     map[string]string{},
			wantErr: []string{"DB_ADMIN_URL is not set", "BASE_DOMAIN is not set"},
		},
		{
			name: "defaults",
			env:  map[string]string{"DB_ADMIN_URL": "postgres://a:b@db:5432/p", "BASE_DOMAIN": "apps.example.com"},
			check: func(t *testing.T, c Operator) {
				if c.IngressClass != "nginx" || c.MetricsAddr != ":9090" || c.MaxConcurrentReconciles != 32 || c.KubeAPIQPS != 200 {
					t.Errorf("unexpected defaults: %+v", c)
				}
				if c.LeaderElection || c.PreviewMaxTTL != 720*time.Hour {
					t.Errorf("leader election %v, max TTL %s", c.LeaderElection, c.PreviewMaxTTL)
				}
				if c.PlatformNamespace != "plattr-system" {
					t.Errorf("PlatformNamespace = %q, want plattr-system", c.PlatformNamespace)
				}
			},
		},
		{
			name:    "the platform namespace must be a namespace name",
			env:     map[string]string{"DB_ADMIN_URL": "postgres://a:b@db/p", "BASE_DOMAIN": "x.dev", "PLATFORM_NAMESPACE": "Plattr.System"},
			wantErr: []string{`PLATFORM_NAMESPACE="Plattr.System" is not a namespace name`},
		},
		{
			name:    "leader election needs a lease namespace",
			env:     map[string]string{"DB_ADMIN_URL": "postgres://a:b@db/p", "BASE_DOMAIN": "x.dev", "LEADER_ELECTION": "true"},
			wantErr: []string{"LEASE_NAMESPACE is not set"},
		},
		{
			name:    "a bad URL is refused without quoting its password",
			env:     map[string]string{"DB_ADMIN_URL": "mysql://root:hunter2@db/p", "BASE_DOMAIN": "x.dev"},
			wantErr: []string{"DB_ADMIN_URL is not a PostgreSQL URL"},
		},
		{
			name:    "bad numbers and TTL",
			env:     map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "x.dev", "KUBE_API_QPS": "fast", "PREVIEW_MAX_TTL": "3w"},
			wantErr: []string{"KUBE_API_QPS", "PREVIEW_MAX_TTL"},
		},
		{
			name:    "an S3 endpoint needs keys; a Keycloak URL needs an admin",
			env:     map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "x.dev", "S3_ENDPOINT": "http://s3:7070", "KEYCLOAK_URL": "https://kc"},
			wantErr: []string{"S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set", "KEYCLOAK_ADMIN_USER and KEYCLOAK_ADMIN_PASSWORD must be set"},
		},
		{
			name: "one source of admin credentials",
			env: map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "DB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
				"BASE_DOMAIN": "x.dev", "LOG_LEVEL": "loud"},
			wantErr: []string{"DB_ADMIN_URL and DB_SECRET_ARN are both set", "LOG_LEVEL"},
		},
		{
			name:    "Secrets Manager mode needs a real ARN, a known sslmode and DB_HOST",
			env:     map[string]string{"DB_SECRET_ARN": "plattr/db-admin", "BASE_DOMAIN": "x.dev", "DB_SSLMODE": "sometimes"},
			wantErr: []string{"want a Secrets Manager ARN", "DB_SSLMODE", "DB_HOST is not set"},
		},
		{
			name: "Secrets Manager mode",
			env: map[string]string{"DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:plattr/db-admin-AbCdEf",
				"DB_HOST": "aurora.cluster", "BASE_DOMAIN": "x.dev", "HEALTH_ADDR": ":8081"},
			check: func(t *testing.T, c Operator) {
				if c.DBAdminURL != "" || c.DBSecret.SSLMode != "require" || c.DBSecret.Refresh != 5*time.Minute || c.HealthAddr != ":8081" {
					t.Errorf("unexpected: %+v", c)
				}
			},
		},
		{
			name: "environment quotas: every bad entry named",
			env: map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "x.dev",
				"ENVIRONMENT_QUOTAS": `{"production":{"requests.cpu":"lots"},"prod":{"pods":"1"}}`},
			wantErr: []string{`production.requests.cpu="lots"`, `"prod" is not an environment`},
		},
		{
			name: "environment quotas",
			env: map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "x.dev",
				"ENVIRONMENT_QUOTAS": `{"production":{"requests.cpu":"80","pods":"800"}}`},
			check: func(t *testing.T, c Operator) {
				q := c.EnvironmentQuotas["production"]
				if cpu := q["requests.cpu"]; cpu.String() != "80" || len(q) != 2 || len(c.EnvironmentQuotas) != 1 {
					t.Errorf("quotas %v", c.EnvironmentQuotas)
				}
			},
		},
		{
			name:    "two identity providers need a choice",
			env:     map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "x.dev", "KEYCLOAK_URL": "https://kc", "DEX_ISSUER_URL": "https://dex/dex"},
			wantErr: []string{"set AUTH_PROVIDER to keycloak or dex"},
		},
		{
			name:    "bad URLs are named",
			env:     map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "x.dev", "S3_ENDPOINT": "s3:7070", "S3_ACCESS_KEY_ID": "a", "S3_SECRET_ACCESS_KEY": "b", "AUTH_PROVIDER": "dex", "DEX_ISSUER_URL": "dex"},
			wantErr: []string{"S3_ENDPOINT=", "DEX_ISSUER_URL="},
		},
		{
			name: "storage and Dex",
			env: map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "x.dev", "S3_ENDPOINT": "http://s3:7070", "S3_ACCESS_KEY_ID": "a", "S3_SECRET_ACCESS_KEY": "b",
				"DEX_ISSUER_URL": "http://dex:5556/dex", "DEX_SHARED_CONNECTORS": "local, "},
			check: func(t *testing.T, c Operator) {
				if c.S3.Region != "us-east-1" || c.Auth.Provider != AuthDex || c.Auth.DexNamespace != "plattr-system" ||
					c.Auth.ProvidersSecret != "plattr-auth-providers" || strings.Join(c.Auth.DexSharedConnectors, "|") != "local" {
					t.Errorf("unexpected: %+v", c)
				}
			},
		},
		{
			name: "retry, resync, drift, deadline, limits and the shared-keys opt-in, all named at once",
			env: map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "x.dev", "RETRY_MAX_BACKOFF": "soon",
				"RESYNC_INTERVAL": "-1h", "DRIFT_CHECK_INTERVAL": "0s", "DEPLOYMENT_PROGRESS_DEADLINE": "1ms",
				"DB_APP_CONNECTION_LIMIT": "0", "S3_ALLOW_SHARED_KEYS": "maybe"},
			wantErr: []string{"RETRY_MAX_BACKOFF=", "RESYNC_INTERVAL=", "DRIFT_CHECK_INTERVAL=", "DEPLOYMENT_PROGRESS_DEADLINE must be at least 1s",
				"DB_APP_CONNECTION_LIMIT=", "S3_ALLOW_SHARED_KEYS="},
		},
		{
			name: "new settings' defaults and values",
			env: map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "x.dev", "RETRY_MAX_BACKOFF": "30s",
				"DB_APP_CONNECTION_LIMIT": "-1", "S3_ALLOW_SHARED_KEYS": "true"},
			check: func(t *testing.T, c Operator) {
				if c.RetryMaxBackoff != 30*time.Second || c.ResyncInterval != 2*time.Hour || c.DriftCheckInterval != time.Minute ||
					c.ProgressDeadline != 10*time.Minute || c.DBAppConnectionLimit != -1 || !c.S3.AllowSharedKeys {
					t.Errorf("unexpected: %+v", c)
				}
				if d := (Operator{}).WithDefaults(); d.RetryMaxBackoff != 5*time.Minute || d.DBAppConnectionLimit != 20 || d.MaxConcurrentReconciles != 32 {
					t.Errorf("WithDefaults: %+v", d)
				}
			},
		},
		{
			name: "watch namespaces",
			env:  map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "x.dev", "WATCH_NAMESPACES": "staging, uat,,"},
			check: func(t *testing.T, c Operator) {
				if strings.Join(c.WatchNamespaces, "|") != "staging|uat" {
					t.Errorf("WatchNamespaces = %q", c.WatchNamespaces)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(env(tt.env))
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v does not mention %q", err, want)
				}
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestEnvironmentNamespaces(t *testing.T) {
	got, err := parseEnvironmentNamespaces("staging, shop-prod=production ,uat")
	want := []EnvironmentNamespace{{"staging", "staging"}, {"shop-prod", "production"}, {"uat", "uat"}}
	if err != nil || len(got) != len(want) {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if got, err := parseEnvironmentNamespaces("none"); err != nil || got != nil {
		t.Errorf("none: %v, %v", got, err)
	}
	_, err = parseEnvironmentNamespaces("qa,Shop=production")
	if err == nil || !strings.Contains(err.Error(), "qa") || !strings.Contains(err.Error(), "Shop=production") {
		t.Errorf("error %v does not name both bad entries", err)
	}
}
