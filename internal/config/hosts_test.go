package config

import (
	"slices"
	"strings"
	"testing"
)

func TestHostSettings(t *testing.T) {
	base := map[string]string{"DB_ADMIN_URL": "postgres://a@db/p", "BASE_DOMAIN": "apps.example.com",
		"AUTH_PROVIDER": "dex", "DEX_ISSUER_URL": "https://Login.Example.com:5556/dex"}
	c, err := Parse(env(base))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AllowedDomainSuffixes) != 0 {
		t.Errorf("default suffixes %v; want none (no custom domains outside tenants)", c.AllowedDomainSuffixes)
	}
	if got := c.PlatformHosts(); !slices.Equal(got, []string{"login.example.com"}) {
		t.Errorf("platform hosts %v; want the issuer's host", got)
	}

	base["ALLOWED_DOMAIN_SUFFIXES"] = "*.Shop.example.org, .example.net,"
	base["RESERVED_HOSTS"] = "platform.example.com"
	if c, err = Parse(env(base)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.AllowedDomainSuffixes, []string{"shop.example.org", "example.net"}) {
		t.Errorf("suffixes %v", c.AllowedDomainSuffixes)
	}
	if got := c.PlatformHosts(); !slices.Equal(got, []string{"platform.example.com", "login.example.com"}) {
		t.Errorf("platform hosts %v", got)
	}

	base["ALLOWED_DOMAIN_SUFFIXES"] = "com,bad_host.example.com"
	base["RESERVED_HOSTS"] = "https://api.example.com"
	_, err = Parse(env(base))
	for _, want := range []string{`ALLOWED_DOMAIN_SUFFIXES: "com"`, `ALLOWED_DOMAIN_SUFFIXES: "bad_host.example.com"`, `RESERVED_HOSTS: "https://api.example.com"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v; want it to say %s", err, want)
		}
	}
}
