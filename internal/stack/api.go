package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/stack/dex"
	"github.com/plattr/plattr/internal/stack/proc"
)

// APIClientID is the platform API's OAuth2 client at the local Dex.
const APIClientID = "plattr-api"

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
		RedirectURIs: []string{authn.CallbackURL(url)}, WebOrigins: []string{url},
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

// apiToken is a long-lived API token of the local site admin (the Dex dev
// user), issued once and kept in the state directory.
func (d *Dev) apiToken(ctx context.Context, dbURL string) (string, error) {
	return remember(filepath.Join(d.Dir, "api.token"), func() (string, error) {
		st, err := store.Open(ctx, dbURL, 2)
		if err != nil {
			return "", err
		}
		defer st.Close()
		u, err := st.EnsureUser(ctx, DevUserEmail, true)
		if err != nil {
			return "", err
		}
		token, _, err := (&authn.Authenticator{Store: st}).IssueToken(ctx, u.ID, "plattr dev", 0)
		return token, err
	})
}
