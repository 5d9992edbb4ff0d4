package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/apiclient"
	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/stack/dex"
	"github.com/plattr/plattr/internal/stack/proc"
)

// APIClientID is the platform API's OAuth2 client at the local Dex.
const APIClientID = "plattr-api"

// apiCallbackPath is where the API takes browsers back from the identity
// provider: its documented contract (docs/API.md, PUBLIC_URL/auth/callback),
// registered here as any installer registers it, and pinned to the
// server's own constant by TestCallbackURLIsTheAPIs.
const apiCallbackPath = "/auth/callback"

// callbackURL is the API's redirect URI when it is served at publicURL.
func callbackURL(publicURL string) string {
	u, err := url.Parse(strings.TrimRight(publicURL, "/") + apiCallbackPath)
	if err != nil {
		return publicURL + apiCallbackPath
	}
	return u.String()
}

// DevPassword is the local Dex dev user's password.
func (d *Dev) DevPassword() (string, error) { return d.secret("dex.password") }

// APIURL is where the local platform API listens.
func (d *Dev) APIURL() (string, error) { return d.apiURL() }

func (d *Dev) apiURL() (string, error) {
	port, err := d.port("api")
	if err != nil {
		return "", err
	}
	return "http://127.0.0.1:" + strconv.Itoa(port), nil
}

func (d *Dev) api(dbURL, kubeconfig string, idp *dex.Server) (*proc.Process, error) {
	url, err := d.apiURL()
	if err != nil {
		return nil, err
	}
	secret, err := d.secret("api.oidc-secret")
	if err != nil {
		return nil, err
	}
	env := []string{
		"KUBECONFIG=" + kubeconfig,
		"DATABASE_URL=" + dbURL,
		"LISTEN_ADDR=" + strings.TrimPrefix(url, "http://"),
		"METRICS_ADDR=127.0.0.1:0", // not on every interface of a laptop
		"PUBLIC_URL=" + url,
		"SITE_ADMINS=" + DevUserEmail,
		"REPLICA_ID=local",
	}
	if idp != nil {
		env = append(env, "OIDC_ISSUER_URL="+idp.Issuer(), "OIDC_CLIENT_ID="+APIClientID, "OIDC_CLIENT_SECRET="+secret)
	}
	return &proc.Process{Name: "plattr-api", Path: filepath.Join(d.BinDir, "plattr-api"), Dir: d.Dir, Env: env}, nil
}

// registerAPIClient gives the API its OAuth2 client at Dex, redirecting
// to the API's callback only and signing in through the local password
// database only: a client without allowedConnectors would take any
// connector, such as one an app's providers make (issue 17).
func (d *Dev) registerAPIClient(ctx context.Context, kubeconfig string, idp *dex.Server) error {
	url, err := d.apiURL()
	if err != nil {
		return err
	}
	secret, err := d.secret("api.oidc-secret")
	if err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(rc, client.Options{})
	if err != nil {
		return err
	}
	p := &identity.Dex{Issuer: idp.Issuer(), Namespace: DexNamespace, Client: c, SharedConnectors: []string{dex.LocalConnector}}
	_, _, err = p.Ensure(ctx, identity.Client{
		Owner: DexNamespace + "/plattr-api", Realm: APIClientID, App: "Plattr", Secret: secret,
		RedirectURIs: []string{callbackURL(url)}, WebOrigins: []string{url},
	})
	return err
}

// startAPI starts the platform API and waits until it is ready.
func (d *Dev) startAPI(ctx context.Context, api *proc.Process) error {
	if _, err := os.Stat(api.Path); err != nil {
		return fmt.Errorf("plattr-api not found next to plattr in %s: run `make build`", d.BinDir)
	}
	url, err := d.apiURL()
	if err != nil {
		return err
	}
	return startReady(ctx, api, url+"/readyz")
}

// The local site admin's API token lives in the state directory
// (api.token, 0600), where `plattr dev env` reads it as PLATTR_TOKEN.
const (
	devTokenName = "plattr dev"
	// devTokenTTL is the API's own default lifetime, under its cap
	// (TOKEN_MAX_TTL, 365 days by default).
	devTokenTTL = 90 * 24 * time.Hour
	// devTokenRenewBefore: `plattr dev up` replaces the token when less
	// than this is left, so a stack used daily never meets an expired one.
	devTokenRenewBefore = 30 * 24 * time.Hour
)

// TokenFile is where the local site admin's API token is kept.
func (d *Dev) TokenFile() string { return filepath.Join(d.Dir, "api.token") }

// ensureToken leaves a working token of the local site admin in
// TokenFile: the one there if the API still takes it and it has a while
// to live, else a new one that plattr-api itself issues (`plattr-api
// token --out`), the old one then revoked. The CLI never opens the API's
// database: plattr-api migrated it when it started, and is the only one
// that knows how tokens are made and stored.
func (d *Dev) ensureToken(ctx context.Context, api *proc.Process, url string) error {
	path := d.TokenFile()
	var old *apiToken
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) != "" {
		t, err := lookupToken(ctx, url, strings.TrimSpace(string(b)))
		var apiErr *apiclient.Error
		switch {
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized:
			// Expired, revoked, or from a database that is gone: replace it.
		case err != nil:
			return fmt.Errorf("checking the local API token: %w", err)
		case t != nil && (t.ExpiresAt == nil || time.Until(*t.ExpiresAt) > devTokenRenewBefore):
			return nil
		default:
			old = t
		}
	}
	cmd := exec.CommandContext(ctx, api.Path, "token", "--email", DevUserEmail, "--name", devTokenName,
		"--expires-in", devTokenTTL.String(), "--out", path)
	cmd.Dir, cmd.Env = api.Dir, append(os.Environ(), api.Env...)
	// --out keeps the token off this output, which goes into an error.
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("plattr-api token: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if old == nil {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	c, err := devClient(url, strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	if err := c.Do(ctx, http.MethodDelete, "/api/v1/tokens/"+strconv.FormatInt(old.ID, 10), nil, nil); err != nil {
		return fmt.Errorf("revoking the replaced local API token %s: %w", old.Hint, err)
	}
	return nil
}

// apiToken is what GET /api/v1/tokens says of a token.
type apiToken struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Hint      string     `json:"hint"` // the token's first characters, then "…"
	ExpiresAt *time.Time `json:"expiresAt"`
	RevokedAt *time.Time `json:"revokedAt"`
}

// lookupToken asks the API about secret; nil if the API takes it but
// lists it under another name (then it is replaced).
func lookupToken(ctx context.Context, url, secret string) (*apiToken, error) {
	c, err := devClient(url, secret)
	if err != nil {
		return nil, err
	}
	var list []apiToken
	if err := c.Do(ctx, http.MethodGet, "/api/v1/tokens", nil, &list); err != nil {
		return nil, err
	}
	for i, t := range list {
		if t.Name == devTokenName && t.RevokedAt == nil && strings.HasPrefix(secret, strings.TrimSuffix(t.Hint, "…")) {
			return &list[i], nil
		}
	}
	return nil, nil
}

// devClient talks to the local API with token only, whatever the shell
// exports (PLATTR_TOKEN of another stack, GitHub Actions' variables).
func devClient(url, token string) (*apiclient.Client, error) {
	return apiclient.New(apiclient.Options{URL: url, Token: token, Getenv: func(string) string { return "" }})
}
