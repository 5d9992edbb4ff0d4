package platformapi

import (
	"strings"
	"testing"
	"time"
)

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	env := map[string]string{
		"OIDC_ISSUER_URL": "dex.example.com",
		"OIDC_CLIENT_ID":  "portal",
		"SITE_ADMINS":     "ops@example.com, not-an-email",
		"SESSION_TTL":     "forever",
	}
	_, err := ParseConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"DATABASE_URL is not set", "OIDC_CLIENT_SECRET", "SITE_ADMINS: \"not-an-email\"", "SESSION_TTL=\"forever\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestConfigDefaultsAndOIDC(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL":       "postgres://api:secret@db:5432/platform",
		"OIDC_ISSUER_URL":    "https://dex.example.com/dex",
		"OIDC_CLIENT_ID":     "portal",
		"OIDC_CLIENT_SECRET": "s",
		"SITE_ADMINS":        "Ops@Example.com",
	}
	_, err := ParseConfig(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "PUBLIC_URL is not set") {
		t.Fatalf("OIDC without PUBLIC_URL: %v", err)
	}
	env["PUBLIC_URL"] = "https://platform.example.com/"
	c, err := ParseConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !c.OIDCEnabled() || c.PublicURL != "https://platform.example.com" || c.ListenAddr != ":8080" ||
		len(c.SiteAdmins) != 1 || c.SiteAdmins[0] != "ops@example.com" || c.Replica == "" {
		t.Fatalf("config = %+v", c)
	}
	// A bad URL is reported without echoing it: it holds a password.
	env["DATABASE_URL"] = "mysql://api:hunter2@db"
	_, err = ParseConfig(func(k string) string { return env[k] })
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("bad DATABASE_URL: %v", err)
	}
}

func TestConfigLimits(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://api:s@db:5432/platform"}
	get := func(k string) string { return env[k] }
	c, err := ParseConfig(get)
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != ":9091" || c.TokenMaxTTL != 365*24*time.Hour || c.LoginRateLimit != 20 || c.StreamMaxPerUser != 20 ||
		c.StreamRecheckInterval != time.Minute || c.StreamWriteTimeout != 30*time.Second || c.StreamMaxReplay != 10000 {
		t.Fatalf("defaults: %+v", c)
	}
	env["TOKEN_MAX_TTL"], env["TRUSTED_PROXIES"], env["LOGIN_RATE_LIMIT"] = "none", "10.0.0.0/8, 192.168.1.7", "0"
	if c, err = ParseConfig(get); err != nil || c.TokenMaxTTL != 0 || len(c.TrustedProxies) != 2 || c.TrustedProxies[1].Bits() != 32 || c.LoginRateLimit != 0 {
		t.Fatalf("no cap, proxies: %+v %v", c, err)
	}
	// Every bad limit at once, each named.
	env["TOKEN_MAX_TTL"], env["TRUSTED_PROXIES"], env["STREAM_MAX_PER_USER"], env["STREAM_MAX_REPLAY"], env["LOGIN_RATE_LIMIT"] =
		"forever", "10.0.0.0/33", "0", "-1", "-5"
	_, err = ParseConfig(get)
	for _, want := range []string{"TOKEN_MAX_TTL=\"forever\"", "TRUSTED_PROXIES: \"10.0.0.0/33\"", "STREAM_MAX_PER_USER=\"0\"", "STREAM_MAX_REPLAY=\"-1\"", "LOGIN_RATE_LIMIT=\"-5\""} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// Keyless CI is off until an audience is set; a bad issuer is named.
func TestConfigGitHubOIDC(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://api:secret@db:5432/platform"}
	get := func(k string) string { return env[k] }
	c, err := ParseConfig(get)
	if err != nil || c.GitHubEnabled() || c.GitHubOIDCIssuer != "https://token.actions.githubusercontent.com" {
		t.Fatalf("defaults: %v enabled %t issuer %q", err, c.GitHubEnabled(), c.GitHubOIDCIssuer)
	}
	env["GITHUB_OIDC_AUDIENCE"], env["GITHUB_ALLOWED_OWNERS"], env["GITHUB_PRODUCTION_ENVIRONMENT"] = "plattr", "example, other", "production"
	if c, err = ParseConfig(get); err != nil || !c.GitHubEnabled() || len(c.GitHubAllowedOwners) != 2 || c.GitHubProductionEnvironment != "production" {
		t.Fatalf("set: %v %+v", err, c)
	}
	env["GITHUB_OIDC_ISSUER"] = "token.actions.githubusercontent.com"
	if _, err = ParseConfig(get); err == nil || !strings.Contains(err.Error(), "GITHUB_OIDC_ISSUER") {
		t.Fatalf("a bad issuer: %v", err)
	}
}
