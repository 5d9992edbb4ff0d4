package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/identity/keycloaktest"
)

func shopClient(env, host string) identity.Client {
	return identity.Client{
		Owner: env + "/shop", Realm: env + "-shop", App: "shop", Secret: "s3cret-" + env,
		RedirectURIs: []string{"https://" + host + "/auth/callback"},
		WebOrigins:   []string{"https://" + host},
		Upstreams: []identity.Upstream{
			{Type: "google", ClientID: "g-id", ClientSecret: "g-secret"},
			{Type: "github", ClientID: "gh-id", ClientSecret: "gh-secret"},
		},
	}
}

func TestKeycloakRealmPerEnvironment(t *testing.T) {
	ctx := context.Background()
	kc := keycloaktest.New("admin", "pw")
	defer kc.Close()
	p := &identity.Keycloak{URL: kc.URL, User: "admin", Password: "pw"}

	staging, uat := shopClient("staging", "shop.staging.example.com"), shopClient("uat", "shop.uat.example.com")
	for _, c := range []identity.Client{staging, uat} {
		res, changed, err := p.Ensure(ctx, c)
		if err != nil || !changed {
			t.Fatalf("Ensure(%s) = %v, %v", c.Realm, changed, err)
		}
		if want := kc.URL + "/realms/" + c.Realm; res.IssuerURL != want || res.ClientID != "shop" {
			t.Fatalf("result = %+v, want issuer %s and client shop", res, want)
		}
	}
	if kc.Realm("staging-shop") == nil || kc.Realm("uat-shop") == nil {
		t.Fatal("staging and uat did not get a realm each")
	}
	clients := kc.Clients("staging-shop")
	if len(clients) != 1 {
		t.Fatalf("staging-shop has %d clients", len(clients))
	}
	c := clients[0]
	if got := c["redirectUris"].([]any); len(got) != 1 || got[0] != "https://shop.staging.example.com/auth/callback" {
		t.Fatalf("redirect URIs = %v", got)
	}
	if c["secret"] != "s3cret-staging" || c["publicClient"] != false {
		t.Fatalf("client not confidential with the given secret: %v", c)
	}
	idps := kc.IdentityProviders("staging-shop")
	if len(idps) != 2 || idps["github"]["config"].(map[string]any)["clientSecret"] != "gh-secret" {
		t.Fatalf("identity providers = %v", idps)
	}

	// A second pass writes nothing.
	before := kc.Writes()
	if _, changed, err := p.Ensure(ctx, staging); err != nil || changed || kc.Writes() != before {
		t.Fatalf("no-op Ensure changed=%v err=%v writes %d→%d", changed, err, before, kc.Writes())
	}

	// A new host moves the redirect URIs; a new provider secret is applied
	// even though Keycloak never shows the old one; a dropped provider goes.
	moved := shopClient("staging", "shop.example.org")
	moved.Upstreams = []identity.Upstream{{Type: "github", ClientID: "gh-id", ClientSecret: "rotated"}}
	if _, changed, err := p.Ensure(ctx, moved); err != nil || !changed {
		t.Fatalf("Ensure after a host change = %v, %v", changed, err)
	}
	c = kc.Clients("staging-shop")[0]
	if got := c["redirectUris"].([]any); len(got) != 1 || got[0] != "https://shop.example.org/auth/callback" {
		t.Fatalf("redirect URIs after the host change = %v", got)
	}
	idps = kc.IdentityProviders("staging-shop")
	if _, ok := idps["google"]; ok || idps["github"]["config"].(map[string]any)["clientSecret"] != "rotated" {
		t.Fatalf("identity providers after the change = %v", idps)
	}

	// Another app may not take the realm.
	thief := staging
	thief.Owner = "other/shop"
	if _, _, err := p.Ensure(ctx, thief); !errors.Is(err, identity.ErrConflict) {
		t.Fatalf("Ensure by another owner = %v, want ErrConflict", err)
	}
	if err := p.Remove(ctx, thief); err != nil || kc.Realm("staging-shop") == nil {
		t.Fatalf("Remove by another owner deleted the realm (err %v)", err)
	}

	// Removing staging leaves uat.
	if err := p.Remove(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if kc.Realm("staging-shop") != nil || kc.Realm("uat-shop") == nil {
		t.Fatal("removing staging did not leave exactly uat")
	}
}

func TestKeycloakUnavailableAndBadCredentials(t *testing.T) {
	ctx := context.Background()
	kc := keycloaktest.New("admin", "pw")
	wrong := &identity.Keycloak{URL: kc.URL, User: "admin", Password: "wrong"}
	_, _, err := wrong.Ensure(ctx, shopClient("staging", "h"))
	var ue *identity.UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "KEYCLOAK_ADMIN_PASSWORD") {
		t.Fatalf("bad admin password: %v", err)
	}
	kc.Close()
	down := &identity.Keycloak{URL: kc.URL, User: "admin", Password: "pw"}
	_, _, err = down.Ensure(ctx, shopClient("staging", "h"))
	if !errors.As(err, &ue) || ue.Service != "Keycloak" || !strings.Contains(err.Error(), "Keycloak at "+kc.URL) {
		t.Fatalf("Keycloak down: %v", err)
	}
}
