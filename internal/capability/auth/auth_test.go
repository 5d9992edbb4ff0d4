package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/auth"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/identity"
)

// fakeIdP keeps clients by realm. Dex and Keycloak themselves are tested in
// internal/identity (Dex for real, Keycloak against its documented API).
type fakeIdP struct {
	err     error
	clients map[string]identity.Client
}

func (f *fakeIdP) Name() string               { return "FakeIdP" }
func (f *fakeIdP) Ping(context.Context) error { return f.err }
func (f *fakeIdP) Remove(_ context.Context, c identity.Client) error {
	delete(f.clients, c.Realm)
	return f.err
}
func (f *fakeIdP) Ensure(_ context.Context, c identity.Client) (identity.Result, bool, error) {
	if f.err != nil {
		return identity.Result{}, false, f.err
	}
	if old, ok := f.clients[c.Realm]; ok && old.Owner != c.Owner {
		return identity.Result{}, false, identity.ErrConflict
	}
	f.clients[c.Realm] = c
	return identity.Result{IssuerURL: "https://idp", ClientID: c.Realm}, true, nil
}

func spec(providers ...platformv1.AuthProvider) auth.Spec {
	return auth.Spec{
		Enabled:     true,
		Client:      auth.NewClient("shop/web", "staging-web", "web", "web.staging.example.com"),
		Providers:   providers,
		Secret:      "web-auth",
		Credentials: auth.CredentialsSecretName("shop", "web"),
	}
}

// credentials is a Secret with a github provider's credentials.
func credentials(namespace, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Data:       map[string][]byte{"github-client-id": []byte("id"), "github-client-secret": []byte("secret")},
	}
}

func TestCredentialsSecretName(t *testing.T) {
	for _, tt := range []struct{ ns, app string }{{"shop", "web"}, {"team-a-staging", "my-frontend"}} {
		name := auth.CredentialsSecretName(tt.ns, tt.app)
		ns, app, ok := auth.ParseCredentialsSecretName(name)
		if !ok || ns != tt.ns || app != tt.app {
			t.Errorf("%s parses as %q %q %v", name, ns, app, ok)
		}
	}
	for _, bad := range []string{"plattr-auth-providers", "plattr-auth.shop", "plattr-auth..web", "plattr-auth.shop.", "plattr-auth.a.b.c", "other.shop.web"} {
		if ns, app, ok := auth.ParseCredentialsSecretName(bad); ok {
			t.Errorf("%s parses as %q %q", bad, ns, app)
		}
	}
}

func TestEnsureDecisions(t *testing.T) {
	tests := []struct {
		name        string
		idp         *fakeIdP // nil: none configured
		spec        auth.Spec
		existing    []client.Object
		wantReason  string
		wantMessage string
		wantBackend bool
	}{
		{name: "no identity provider configured", spec: spec(), wantReason: platformv1.ReasonAuthNotConfigured},
		{name: "a client with the exact redirect URI", idp: &fakeIdP{}, spec: spec(), wantReason: platformv1.ReasonProvisioned},
		{name: "upstream credentials missing name the Secret and keys", idp: &fakeIdP{}, spec: spec(platformv1.AuthProvider("github")),
			wantReason: platformv1.ReasonProviderCredentialsMissing, wantMessage: "creates Secret plattr-auth.shop.web in namespace plattr-system with keys github-client-id, github-client-secret"},
		{name: "credentials in the platform namespace are used", idp: &fakeIdP{}, spec: spec(platformv1.AuthProvider("github")),
			existing:   []client.Object{credentials("plattr-system", "plattr-auth.shop.web")},
			wantReason: platformv1.ReasonProvisioned, wantMessage: "with github"},
		{name: "credentials in the app's own namespace are not read; the new place is named", idp: &fakeIdP{}, spec: spec(platformv1.AuthProvider("github")),
			existing:   []client.Object{credentials("shop", "plattr-auth-providers")},
			wantReason: platformv1.ReasonProviderCredentialsMissing,
			wantMessage: "creates Secret plattr-auth.shop.web in namespace plattr-system with keys github-client-id, github-client-secret (see docs/AUTH.md); " +
				"Secret plattr-auth-providers in namespace shop is no longer read"},
		{name: "another app's credentials are not this app's", idp: &fakeIdP{}, spec: spec(platformv1.AuthProvider("github")),
			existing:   []client.Object{credentials("plattr-system", "plattr-auth.shop.webx"), credentials("plattr-system", "plattr-auth.sho.pweb")},
			wantReason: platformv1.ReasonProviderCredentialsMissing, wantMessage: "plattr-auth.shop.web "},
		{name: "a client that would allow no connector is refused", idp: &fakeIdP{err: fmt.Errorf("%w: Dex client staging-web would allow none", identity.ErrNoConnectors)}, spec: spec(),
			wantReason: platformv1.ReasonNoConnectors, wantMessage: "DEX_SHARED_CONNECTORS"},
		{name: "a realm of another app is a conflict", idp: &fakeIdP{clients: map[string]identity.Client{"staging-web": {Owner: "other/web"}}}, spec: spec(),
			wantReason: platformv1.ReasonRealmConflict},
		{name: "provider down: unavailable, retried when it answers", idp: &fakeIdP{err: errors.New("connection refused")}, spec: spec(),
			wantReason: platformv1.ReasonIdentityProviderUnavailable, wantBackend: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := capabilitytest.App("shop", "web")
			env := capabilitytest.NewEnv(t, tt.existing...)
			c := &auth.Capability{Kube: env.Kube, ProvidersSecret: "plattr-auth-providers", PlatformNamespace: "plattr-system"}
			if tt.idp != nil {
				if tt.idp.clients == nil {
					tt.idp.clients = map[string]identity.Client{}
				}
				c.IdP = tt.idp
			}
			_, err := c.Ensure(context.Background(), capabilitytest.Target(app), tt.spec)
			cond := capabilitytest.Condition(t, app, platformv1.ConditionAuthReady)
			if cond.Reason != tt.wantReason || !strings.Contains(cond.Message, tt.wantMessage) {
				t.Fatalf("AuthReady %s: %s; want %s containing %q", cond.Reason, cond.Message, tt.wantReason, tt.wantMessage)
			}
			if (err == nil) != (cond.Status == metav1.ConditionTrue) {
				t.Errorf("error %v with condition %s", err, cond.Status)
			}
			if _, ok := capability.UnavailableBackend(err); ok != tt.wantBackend {
				t.Errorf("error %v marks the provider unavailable: %v, want %v", err, ok, tt.wantBackend)
			}
			if cond.Status != metav1.ConditionTrue {
				return
			}
			cm := &corev1.ConfigMap{}
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "web-auth"}, cm); err != nil {
				t.Fatal(err)
			}
			if got := cm.Data[platformv1.KeyAuthRedirectURI]; got != "https://web.staging.example.com"+platformv1.AuthCallbackPath {
				t.Errorf("AUTH_REDIRECT_URI %q", got)
			}
			secret := &corev1.Secret{}
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "web-auth"}, secret); err != nil {
				t.Fatal(err)
			}
			if got := string(secret.Data[platformv1.KeyAuthClientSecret]); got == "" || got != tt.idp.clients["staging-web"].Secret {
				t.Errorf("the Secret's client secret %q is not the provider's %q", got, tt.idp.clients["staging-web"].Secret)
			}
		})
	}
}
