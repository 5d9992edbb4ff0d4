package identity

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Keycloak manages one realm per app and environment through Keycloak's
// admin REST API (https://www.keycloak.org/docs-api/latest/rest-api/):
// realm <prefix>-<app>, in it a confidential client named after the app
// with exact redirect URIs and web origins, and an identity provider for
// each upstream. Staging and uat of one app never share a realm.
type Keycloak struct {
	URL      string // base URL, e.g. https://auth.example.com
	User     string // admin user in the master realm
	Password string
	HTTP     *http.Client  // nil: a client whose calls end after Timeout
	Timeout  time.Duration // bounds each admin API call; zero: 15 s

	mu      sync.Mutex
	token   string
	expires time.Time
}

// keycloakOwnerAttribute is the realm attribute naming the app that owns it.
const keycloakOwnerAttribute = "plattr.owner"

// keycloakSecretHashKey keeps a hash of an identity provider's client
// secret in its config: Keycloak never returns the secret itself, and
// without the hash a changed secret could not be told from an unchanged one.
const keycloakSecretHashKey = "plattr.clientSecretHash"

func (k *Keycloak) Name() string { return "Keycloak" }

func (k *Keycloak) unavailable(err error) error {
	return &UnavailableError{Service: "Keycloak", URL: k.URL, Err: err}
}

func (k *Keycloak) httpClient() *http.Client {
	if k.HTTP != nil {
		return k.HTTP
	}
	return &http.Client{Timeout: cmp.Or(k.Timeout, 15*time.Second)}
}

// accessToken signs in to the master realm with the admin-cli client.
func (k *Keycloak) accessToken(ctx context.Context) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.token != "" && time.Now().Before(k.expires) {
		return k.token, nil
	}
	form := url.Values{"grant_type": {"password"}, "client_id": {"admin-cli"}, "username": {k.User}, "password": {k.Password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.base()+"/realms/master/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := k.httpClient().Do(req)
	if err != nil {
		return "", k.unavailable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", k.unavailable(fmt.Errorf("admin sign-in: HTTP %d; check KEYCLOAK_ADMIN_USER and KEYCLOAK_ADMIN_PASSWORD", resp.StatusCode))
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		// A body cut short or stalled past the timeout (never the token:
		// the decoder's errors quote no input).
		return "", k.unavailable(fmt.Errorf("admin sign-in: reading the response: %w", err))
	}
	if tok.AccessToken == "" {
		return "", k.unavailable(fmt.Errorf("admin sign-in: no access token in the response"))
	}
	k.token = tok.AccessToken
	// Renew a little early so a request never carries an expired token.
	k.expires = time.Now().Add(time.Duration(max(tok.ExpiresIn-10, 5)) * time.Second)
	return k.token, nil
}

// Ping checks Keycloak answers and issues the admin a token.
func (k *Keycloak) Ping(ctx context.Context) error {
	_, err := k.accessToken(ctx)
	return err
}

func (k *Keycloak) base() string { return strings.TrimRight(k.URL, "/") }

type statusError struct {
	method, path string
	status       int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d", e.method, e.path, e.status)
}

func isStatus(err error, code int) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == code
}

// call sends one admin API request; out, if not nil, receives the JSON body.
func (k *Keycloak) call(ctx context.Context, method, path string, in, out any) error {
	token, err := k.accessToken(ctx)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, k.base()+"/admin/realms"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := k.httpClient().Do(req)
	if err != nil {
		return k.unavailable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		k.mu.Lock()
		k.token = "" // signed out (e.g. Keycloak restarted): sign in again next time
		k.mu.Unlock()
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusUnauthorized {
		return k.unavailable(&statusError{method, path, resp.StatusCode})
	}
	if resp.StatusCode >= 300 {
		return &statusError{method, path, resp.StatusCode}
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			// A body cut short or stalled past the timeout: retried like
			// any other transport failure.
			return k.unavailable(fmt.Errorf("%s %s: reading the response: %w", method, path, err))
		}
	}
	return nil
}

type kcRealm struct {
	Realm       string            `json:"realm"`
	Enabled     bool              `json:"enabled"`
	DisplayName string            `json:"displayName,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
}

type kcClient struct {
	ID                        string            `json:"id,omitempty"`
	ClientID                  string            `json:"clientId"`
	Name                      string            `json:"name,omitempty"`
	Enabled                   bool              `json:"enabled"`
	Protocol                  string            `json:"protocol"`
	PublicClient              bool              `json:"publicClient"`
	StandardFlowEnabled       bool              `json:"standardFlowEnabled"`
	DirectAccessGrantsEnabled bool              `json:"directAccessGrantsEnabled"`
	ClientAuthenticatorType   string            `json:"clientAuthenticatorType,omitempty"`
	Secret                    string            `json:"secret,omitempty"`
	RedirectURIs              []string          `json:"redirectUris"`
	WebOrigins                []string          `json:"webOrigins"`
	Attributes                map[string]string `json:"attributes,omitempty"`
}

type kcIdentityProvider struct {
	Alias      string            `json:"alias"`
	ProviderID string            `json:"providerId"`
	Enabled    bool              `json:"enabled"`
	Config     map[string]string `json:"config"`
}

func (k *Keycloak) Ensure(ctx context.Context, c Client) (Result, bool, error) {
	res := Result{IssuerURL: k.base() + "/realms/" + url.PathEscape(c.Realm), ClientID: c.App}
	changed, err := k.ensureRealm(ctx, c)
	if err != nil {
		return res, false, err
	}
	cc, err := k.ensureClient(ctx, c)
	if err != nil {
		return res, false, err
	}
	ic, err := k.ensureIdentityProviders(ctx, c)
	return res, changed || cc || ic, err
}

func (k *Keycloak) realmPath(realm string) string { return "/" + url.PathEscape(realm) }

func (k *Keycloak) ensureRealm(ctx context.Context, c Client) (bool, error) {
	var realm kcRealm
	err := k.call(ctx, http.MethodGet, k.realmPath(c.Realm), nil, &realm)
	if isStatus(err, http.StatusNotFound) {
		err = k.call(ctx, http.MethodPost, "", kcRealm{
			Realm: c.Realm, Enabled: true, DisplayName: c.App,
			Attributes: map[string]string{keycloakOwnerAttribute: c.Owner},
		}, nil)
		if err != nil {
			return false, fmt.Errorf("creating realm %s: %w", c.Realm, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading realm %s: %w", c.Realm, err)
	}
	if owner := realm.Attributes[keycloakOwnerAttribute]; owner != c.Owner {
		return false, fmt.Errorf("%w: Keycloak realm %s belongs to %q", ErrConflict, c.Realm, owner)
	}
	return false, nil
}

func (k *Keycloak) desiredClient(c Client) kcClient {
	return kcClient{
		ClientID: c.App, Name: c.App, Enabled: true, Protocol: "openid-connect",
		PublicClient: false, StandardFlowEnabled: true, DirectAccessGrantsEnabled: false,
		ClientAuthenticatorType: "client-secret",
		RedirectURIs:            slices.Clone(c.RedirectURIs),
		WebOrigins:              slices.Clone(c.WebOrigins),
		Attributes:              map[string]string{"post.logout.redirect.uris": strings.Join(postLogout(c.WebOrigins), "##")},
	}
}

func (k *Keycloak) ensureClient(ctx context.Context, c Client) (bool, error) {
	clientsPath := k.realmPath(c.Realm) + "/clients"
	var found []kcClient
	if err := k.call(ctx, http.MethodGet, clientsPath+"?clientId="+url.QueryEscape(c.App), nil, &found); err != nil {
		return false, fmt.Errorf("reading client %s of realm %s: %w", c.App, c.Realm, err)
	}
	want := k.desiredClient(c)
	if len(found) == 0 {
		want.Secret = c.Secret
		if err := k.call(ctx, http.MethodPost, clientsPath, want, nil); err != nil {
			return false, fmt.Errorf("creating client %s in realm %s: %w", c.App, c.Realm, err)
		}
		return true, nil
	}
	have := found[0]
	var secret struct {
		Value string `json:"value"`
	}
	if err := k.call(ctx, http.MethodGet, clientsPath+"/"+url.PathEscape(have.ID)+"/client-secret", nil, &secret); err != nil {
		return false, fmt.Errorf("reading the secret of client %s: %w", c.App, err)
	}
	want.ID = have.ID
	if clientMatches(have, want) && secret.Value == c.Secret {
		return false, nil
	}
	want.Secret = c.Secret
	if err := k.call(ctx, http.MethodPut, clientsPath+"/"+url.PathEscape(have.ID), want, nil); err != nil {
		return false, fmt.Errorf("updating client %s in realm %s: %w", c.App, c.Realm, err)
	}
	return true, nil
}

// clientMatches compares the fields Plattr sets; Keycloak adds many more.
func clientMatches(have, want kcClient) bool {
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	return have.ClientID == want.ClientID && have.Name == want.Name && have.Enabled == want.Enabled &&
		have.Protocol == want.Protocol && have.PublicClient == want.PublicClient &&
		have.StandardFlowEnabled == want.StandardFlowEnabled &&
		have.DirectAccessGrantsEnabled == want.DirectAccessGrantsEnabled &&
		slices.Equal(sorted(have.RedirectURIs), sorted(want.RedirectURIs)) &&
		slices.Equal(sorted(have.WebOrigins), sorted(want.WebOrigins)) &&
		have.Attributes["post.logout.redirect.uris"] == want.Attributes["post.logout.redirect.uris"]
}

func secretHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (k *Keycloak) desiredIdentityProvider(up Upstream) kcIdentityProvider {
	cfg := map[string]string{}
	switch up.Type {
	case UpstreamSAML:
		cfg["singleSignOnServiceUrl"] = up.SSOURL
		cfg["signingCertificate"] = up.CA
		cfg["validateSignature"] = "true"
	default:
		cfg["clientId"] = up.ClientID
		cfg["clientSecret"] = up.ClientSecret
		cfg[keycloakSecretHashKey] = secretHash(up.ClientSecret)
		if up.Type == UpstreamOIDC {
			cfg["issuer"] = up.Issuer
		}
	}
	return kcIdentityProvider{Alias: up.Type, ProviderID: up.Type, Enabled: true, Config: cfg}
}

func (k *Keycloak) ensureIdentityProviders(ctx context.Context, c Client) (bool, error) {
	path := k.realmPath(c.Realm) + "/identity-provider/instances"
	var existing []kcIdentityProvider
	if err := k.call(ctx, http.MethodGet, path, nil, &existing); err != nil {
		return false, fmt.Errorf("reading identity providers of realm %s: %w", c.Realm, err)
	}
	byAlias := map[string]kcIdentityProvider{}
	for _, idp := range existing {
		byAlias[idp.Alias] = idp
	}
	changed := false
	wanted := map[string]bool{}
	for _, up := range c.Upstreams {
		want := k.desiredIdentityProvider(up)
		wanted[want.Alias] = true
		have, ok := byAlias[want.Alias]
		switch {
		case !ok:
			if err := k.call(ctx, http.MethodPost, path, want, nil); err != nil {
				return false, fmt.Errorf("adding identity provider %s to realm %s: %w", want.Alias, c.Realm, err)
			}
			changed = true
		case !idpMatches(have, want):
			if err := k.call(ctx, http.MethodPut, path+"/"+url.PathEscape(want.Alias), want, nil); err != nil {
				return false, fmt.Errorf("updating identity provider %s of realm %s: %w", want.Alias, c.Realm, err)
			}
			changed = true
		}
	}
	for alias := range byAlias {
		if !wanted[alias] {
			if err := k.call(ctx, http.MethodDelete, path+"/"+url.PathEscape(alias), nil, nil); err != nil && !isStatus(err, http.StatusNotFound) {
				return false, fmt.Errorf("removing identity provider %s from realm %s: %w", alias, c.Realm, err)
			}
			changed = true
		}
	}
	return changed, nil
}

// idpMatches compares what Plattr sets, except the secret Keycloak masks:
// its hash stands in for it.
func idpMatches(have, want kcIdentityProvider) bool {
	if have.ProviderID != want.ProviderID || have.Enabled != want.Enabled {
		return false
	}
	for key, v := range want.Config {
		if key == "clientSecret" {
			continue
		}
		if have.Config[key] != v {
			return false
		}
	}
	return true
}

func (k *Keycloak) Remove(ctx context.Context, c Client) error {
	var realm kcRealm
	err := k.call(ctx, http.MethodGet, k.realmPath(c.Realm), nil, &realm)
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading realm %s: %w", c.Realm, err)
	}
	if realm.Attributes[keycloakOwnerAttribute] != c.Owner {
		return nil // another app's realm: not ours to delete
	}
	if err := k.call(ctx, http.MethodDelete, k.realmPath(c.Realm), nil, nil); err != nil && !isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("deleting realm %s: %w", c.Realm, err)
	}
	return nil
}
