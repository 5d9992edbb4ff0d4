package auth_test

import (
	"context"
	"errors"
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
		Enabled:   true,
		Client:    auth.NewClient("shop/web", "staging-web", "web", "web.staging.example.com"),
		Providers: providers,
		Secret:    "web-auth",
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
			wantReason: platformv1.ReasonProviderCredentialsMissing, wantMessage: "create Secret"},
		{name: "a realm of another app is a conflict", idp: &fakeIdP{clients: map[string]identity.Client{"staging-web": {Owner: "other/web"}}}, spec: spec(),
			wantReason: platformv1.ReasonRealmConflict},
		{name: "provider down: unavailable, retried when it answers", idp: &fakeIdP{err: errors.New("connection refused")}, spec: spec(),
			wantReason: platformv1.ReasonIdentityProviderUnavailable, wantBackend: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := capabilitytest.App("shop", "web")
			env := capabilitytest.NewEnv(t, tt.existing...)
			c := &auth.Capability{Kube: env.Kube, ProvidersSecret: "plattr-auth-providers"}
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
