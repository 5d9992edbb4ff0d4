package config

import (
	"fmt"
	"net/url"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/plattr/plattr/internal/naming"
)

// parseHosts reads ALLOWED_DOMAIN_SUFFIXES and RESERVED_HOSTS: DNS names,
// lowercased; a suffix may be written *.example.com or .example.com.
func parseHosts(env *Env) (suffixes, reserved []string) {
	read := func(name string) []string {
		var out []string
		for _, h := range env.List(name) {
			n := naming.NormalizeHost(h)
			if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 || !slices.Contains([]byte(n), '.') {
				env.Fail(fmt.Errorf("%s: %q is not a DNS name such as example.com", name, h))
				continue
			}
			out = append(out, n)
		}
		return out
	}
	return read("ALLOWED_DOMAIN_SUFFIXES"), read("RESERVED_HOSTS")
}

// PlatformHosts are the hosts no app may be served at: RESERVED_HOSTS,
// the host of Dex's issuer (DEX_ISSUER_URL) and Keycloak's (KEYCLOAK_URL).
// An app there would get DNS and a valid certificate for the platform's
// sign-in page.
func (c Operator) PlatformHosts() []string {
	out := slices.Clone(c.ReservedHosts)
	for _, u := range []string{c.Auth.DexIssuer, c.Auth.KeycloakURL} {
		if p, err := url.Parse(u); err == nil && p.Hostname() != "" {
			out = append(out, naming.NormalizeHost(p.Hostname()))
		}
	}
	return out
}
