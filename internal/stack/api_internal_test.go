package stack

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/stack/dex"
	"github.com/plattr/plattr/internal/testenv"
)

// Issue 17: the platform API's client at the local Dex accepted every
// connector, so a connector an app's tenant made (an IdP of its own,
// asserting any email) signed people in to the API — site admins included.
func TestAPIClientAcceptsOnlyTheLocalConnector(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, err := testenv.StartBareCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	idp, err := testenv.StartDex(ctx, cluster, DexNamespace)
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Stop()
	c, err := client.New(cluster.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}

	d := &Dev{Dir: t.TempDir()}
	if err := d.registerAPIClient(ctx, cluster.Plane.Kubeconfig(), idp.Server); err != nil {
		t.Fatal(err)
	}
	// An attacker's connector, as an app's providers would make it: an IdP
	// that asserts a verified email without asking anyone (mockCallback).
	attacker := dexObject(DexNamespace, "Connector", "evil-saml")
	attacker.Object["id"], attacker.Object["type"], attacker.Object["name"] = "evil-saml", "mockCallback", "Evil"
	attacker.Object["config"] = base64.StdEncoding.EncodeToString([]byte("{}"))
	if err := c.Create(ctx, attacker); err != nil {
		t.Fatal(err)
	}
	apiURL, err := d.apiURL()
	if err != nil {
		t.Fatal(err)
	}
	q, err := dex.Authorize(ctx, idp.Issuer(), APIClientID, authn.CallbackURL(apiURL), "evil-saml")
	if err == nil && q.Get("code") != "" {
		t.Errorf("Dex signed in to plattr-api through the attacker's connector: %v", q)
	} else {
		t.Logf("Dex refused the attacker's connector: %v %v", q, err)
	}
	stored := dexObject(DexNamespace, "OAuth2Client", APIClientID)
	if err := c.Get(ctx, client.ObjectKeyFromObject(stored), stored); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedStringSlice(stored.Object, "allowedConnectors"); strings.Join(got, ",") != dex.LocalConnector {
		t.Fatalf("the plattr-api client's allowedConnectors = %v, want [%s]", got, dex.LocalConnector)
	}

	// The local password database still signs the API's users in.
	secret, err := d.secret("api.oidc-secret")
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"password"}, "scope": {"openid email"},
		"username": {testenv.TestUserEmail}, "password": {testenv.TestUserPassword}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, idp.Issuer()+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(APIClientID, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "id_token") {
		t.Fatalf("password grant for plattr-api: HTTP %d: %s", resp.StatusCode, body)
	}
}

func dexObject(namespace, kind, id string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{}}
	obj.SetGroupVersionKind(schema.GroupVersionKind{Group: "dex.coreos.com", Version: "v1", Kind: kind})
	obj.SetNamespace(namespace)
	// Dex's Kubernetes storage names clients by an encoding of their ID,
	// connectors by the ID itself.
	if kind == "Connector" {
		obj.SetName(id)
	} else {
		obj.SetName(identity.DexObjectName(id))
	}
	return obj
}

// The redirect URI the stack registers at Dex is the one the API serves
// and sends: the stack no longer links the API's code, so this pins it.
func TestCallbackURLIsTheAPIs(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080", "http://127.0.0.1:8080/", "https://plattr.example.com"} {
		if got, want := callbackURL(u), authn.CallbackURL(u); got != want {
			t.Errorf("callbackURL(%q) = %q, the API's is %q", u, got, want)
		}
	}
}
