// Package identity gives each app an OIDC client at the platform's identity
// provider. Two providers implement it: Keycloak, through its admin REST API
// (a realm per app and environment), and Dex, through the custom resources
// of its Kubernetes storage (one issuer, a client per app and environment).
package identity

import (
	"context"
	"errors"
	"fmt"
)

// Client is the OIDC client one app (in one environment) needs.
type Client struct {
	// Owner is the app's namespace/name; a realm or client owned by another
	// app is never taken over.
	Owner string
	// Realm is <prefix>-<app>: Keycloak's realm, Dex's client ID.
	Realm string
	// App is the app's name: the client ID inside a Keycloak realm.
	App string
	// Secret is the confidential client's secret. The app's Secret is the
	// source of truth: providers set this value, never invent one.
	Secret string
	// RedirectURIs and WebOrigins are exact; never wildcards.
	RedirectURIs []string
	WebOrigins   []string
	// Upstreams are the identity providers users sign in with.
	Upstreams []Upstream
}

// Upstream is one identity provider (google, github, oidc or saml) with the
// credentials the platform team registered for it.
type Upstream struct {
	Type         string
	ClientID     string
	ClientSecret string
	Issuer       string // oidc
	SSOURL       string // saml
	CA           string // saml: PEM of the IdP's signing certificate
}

// Result is what the app is told.
type Result struct {
	IssuerURL string
	ClientID  string
}

// Provider manages OIDC clients.
type Provider interface {
	// Name names the service in conditions and errors ("Dex", "Keycloak").
	Name() string
	// Ensure makes the client exist exactly as described, writing only
	// what differs, and reports whether it wrote anything.
	Ensure(ctx context.Context, c Client) (Result, bool, error)
	// Remove deletes the client and whatever was created for it.
	Remove(ctx context.Context, c Client) error
	// Ping checks the provider answers and accepts the operator's
	// credentials; the operator uses it to notice a provider coming back.
	Ping(ctx context.Context) error
}

// ErrConflict means the realm or client belongs to another app.
var ErrConflict = errors.New("identity: owned by another app")

// ErrNoConnectors means the client would allow no upstream connector: the
// app lists no providers and the platform shares none (Dex).
var ErrNoConnectors = errors.New("identity: no connector to sign in with")

// UnavailableError says the provider could not be reached or refused the
// operator's credentials; the reconciler retries.
type UnavailableError struct {
	Service, URL string
	Err          error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s at %s: %v", e.Service, e.URL, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Supported upstream types (the CRD's auth.providers enum).
const (
	UpstreamGoogle = "google"
	UpstreamGitHub = "github"
	UpstreamOIDC   = "oidc"
	UpstreamSAML   = "saml"
)

// RequiredKeys lists the keys of the platform team's credentials Secret an
// upstream of type typ needs.
func RequiredKeys(typ string) []string {
	switch typ {
	case UpstreamSAML:
		return []string{"saml-sso-url", "saml-ca"}
	case UpstreamOIDC:
		return []string{"oidc-issuer", "oidc-client-id", "oidc-client-secret"}
	default:
		return []string{typ + "-client-id", typ + "-client-secret"}
	}
}

// UpstreamFrom builds an upstream from the credentials Secret's data.
func UpstreamFrom(typ string, data map[string][]byte) Upstream {
	return Upstream{
		Type:         typ,
		ClientID:     string(data[typ+"-client-id"]),
		ClientSecret: string(data[typ+"-client-secret"]),
		Issuer:       string(data["oidc-issuer"]),
		SSOURL:       string(data["saml-sso-url"]),
		CA:           string(data["saml-ca"]),
	}
}
