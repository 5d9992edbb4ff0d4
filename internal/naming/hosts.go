package naming

import "strings"

// Hosts: what a host may be. Plattr generates every app's host under
// BASE_DOMAIN (Names.Host, Preview.Host); a custom spec.domain is checked
// against these rules by the ingress capability before any route is
// written.

// NormalizeHost lowercases a host and drops a trailing dot, a leading "*."
// or "." (suffix lists are written either way).
func NormalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimSuffix(h, ".")
	h = strings.TrimPrefix(h, "*.")
	return strings.TrimPrefix(h, ".")
}

// HostWithin reports whether host is suffix or a name under it, label by
// label: shop.example.com is within example.com, evilexample.com is not.
func HostWithin(host, suffix string) bool {
	host, suffix = NormalizeHost(host), NormalizeHost(suffix)
	if suffix == "" {
		return false
	}
	return host == suffix || strings.HasSuffix(host, "."+suffix)
}

// GeneratedHost is the host the app gets without spec.domain.
func (n Names) GeneratedHost(baseDomain string) string {
	app := n.app.DeepCopy()
	app.Spec.Domain = ""
	return For(app, n.tenant).Host(baseDomain)
}
