package application_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/testenv"
)

func withAuth(providers ...platformv1.AuthProvider) func(*platformv1.Application) {
	return func(a *platformv1.Application) {
		a.Spec.Database = nil
		a.Spec.Auth = &platformv1.AuthSpec{Enabled: true, Providers: providers}
	}
}

// passwordToken signs the test user in through the app's client with the
// password grant and returns the ID token's claims.
func passwordToken(t testing.TB, ns, app string) (map[string]any, error) {
	t.Helper()
	cfg := configMapData(t, ns, app+"-auth")
	secret := secretData(t, ns, app+"-auth")
	form := url.Values{
		"grant_type": {"password"}, "scope": {"openid email"},
		"username": {testenv.TestUserEmail}, "password": {testenv.TestUserPassword},
	}
	req, _ := http.NewRequest(http.MethodPost, cfg["AUTH_ISSUER_URL"]+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(cfg["AUTH_CLIENT_ID"]), url.QueryEscape(string(secret["AUTH_CLIENT_SECRET"])))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("token endpoint: HTTP %d: %s", resp.StatusCode, body)
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return nil, err
	}
	parts := strings.Split(tok.IDToken, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("no ID token in %s", body)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	claims := map[string]any{}
	return claims, json.Unmarshal(payload, &claims)
}

// authorizeStatus asks Dex to start a sign-in that returns to redirectURI:
// Dex refuses (HTTP 400) a redirect URI the client has not registered.
func authorizeStatus(t testing.TB, clientID, redirectURI string) int {
	t.Helper()
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}
	// Dex may first send the browser to its login page; follow it there.
	resp, err := http.Get(dex.Issuer() + "/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestDexClientYieldsATokenAndFollowsTheDomain(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "portal", withAuth()))
	waitPhase(t, ns, "portal", platformv1.PhaseRunning, runningTimeout)

	cfg := configMapData(t, ns, "portal-auth")
	if cfg["AUTH_ISSUER_URL"] != dex.Issuer() || cfg["AUTH_CLIENT_ID"] != "staging-portal" ||
		cfg["AUTH_REDIRECT_URI"] != "https://portal.staging."+baseDomain+"/auth/callback" {
		t.Fatalf("auth ConfigMap = %v", cfg)
	}
	// The issuer's discovery document resolves.
	resp, err := http.Get(cfg["AUTH_ISSUER_URL"] + "/.well-known/openid-configuration")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery document: %v %v", resp, err)
	}
	resp.Body.Close()
	claims, err := passwordToken(t, ns, "portal")
	if err != nil {
		t.Fatal(err)
	}
	if claims["aud"] != "staging-portal" || claims["email"] != testenv.TestUserEmail || claims["iss"] != dex.Issuer() {
		t.Fatalf("ID token claims = %v", claims)
	}
	oldURI := cfg["AUTH_REDIRECT_URI"]
	if code := authorizeStatus(t, "staging-portal", oldURI); code != http.StatusOK {
		t.Fatalf("Dex refuses the app's own redirect URI: HTTP %d", code)
	}
	if code := authorizeStatus(t, "staging-portal", "https://evil.example.com/auth/callback"); code != http.StatusBadRequest {
		t.Fatalf("Dex accepted a foreign redirect URI: HTTP %d", code)
	}

	update(t, client.ObjectKey{Namespace: ns, Name: "portal"}, &platformv1.Application{}, func(a *platformv1.Application) {
		a.Spec.Domain = "portal.example.org"
	})
	newURI := "https://portal.example.org/auth/callback"
	eventually(t, runningTimeout, "the redirect URI to follow the domain", func() error {
		if got := configMapData(t, ns, "portal-auth")["AUTH_REDIRECT_URI"]; got != newURI {
			return fmt.Errorf("AUTH_REDIRECT_URI = %s", got)
		}
		if code := authorizeStatus(t, "staging-portal", newURI); code != http.StatusOK {
			return fmt.Errorf("Dex refuses the new redirect URI: HTTP %d", code)
		}
		if code := authorizeStatus(t, "staging-portal", oldURI); code != http.StatusBadRequest {
			return fmt.Errorf("Dex still accepts the old redirect URI: HTTP %d", code)
		}
		return nil
	})
	// The client secret did not change with the domain: the token still comes.
	if _, err := passwordToken(t, ns, "portal"); err != nil {
		t.Fatal(err)
	}
}

func TestTwoEnvironmentsGetTwoClientsAndDeletingOneLeavesTheOther(t *testing.T) {
	startOperator(t)
	staging, uat := newNamespace(t), newNamespace(t)
	create(t, newApp(staging, "shop", withAuth()))
	create(t, newApp(uat, "shop", withAuth(), func(a *platformv1.Application) { a.Spec.Environment = platformv1.EnvironmentUAT }))
	waitPhase(t, staging, "shop", platformv1.PhaseRunning, runningTimeout)
	waitPhase(t, uat, "shop", platformv1.PhaseRunning, runningTimeout)

	s, u := configMapData(t, staging, "shop-auth")["AUTH_CLIENT_ID"], configMapData(t, uat, "shop-auth")["AUTH_CLIENT_ID"]
	if s != "staging-shop" || u != "uat-shop" {
		t.Fatalf("client IDs = %q and %q, want staging-shop and uat-shop", s, u)
	}
	for _, ns := range []string{staging, uat} {
		if _, err := passwordToken(t, ns, "shop"); err != nil {
			t.Fatalf("%s: %v", ns, err)
		}
	}
	uatSecret := secretData(t, uat, "shop-auth")
	if string(uatSecret["AUTH_CLIENT_SECRET"]) == string(secretData(t, staging, "shop-auth")["AUTH_CLIENT_SECRET"]) {
		t.Fatal("staging and uat share a client secret")
	}

	if err := k8s.Delete(context.Background(), getApp(t, staging, "shop")); err != nil {
		t.Fatal(err)
	}
	eventually(t, runningTimeout, "the staging client to be gone", func() error {
		if code := authorizeStatus(t, "staging-shop", "https://shop.staging."+baseDomain+"/auth/callback"); code != http.StatusBadRequest {
			return fmt.Errorf("Dex still knows staging-shop (HTTP %d)", code)
		}
		return nil
	})
	if _, err := passwordToken(t, uat, "shop"); err != nil {
		t.Fatalf("uat's client stopped working when staging's was deleted: %v", err)
	}
}

func TestMissingProviderCredentialsAreNamedAndPickedUpOnceAdded(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "social", withAuth("github")))
	eventually(t, runningTimeout, "AuthReady to name the missing credentials", func() error {
		c := condition(getApp(t, ns, "social"), platformv1.ConditionAuthReady)
		if c.Reason != platformv1.ReasonProviderCredentialsMissing || !strings.Contains(c.Message, "plattr-auth-providers") ||
			!strings.Contains(c.Message, "github-client-id, github-client-secret") {
			return fmt.Errorf("AuthReady = %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plattr-auth-providers"},
		StringData: map[string]string{"github-client-id": "gh-id", "github-client-secret": "gh-secret"},
	})
	waitPhase(t, ns, "social", platformv1.PhaseRunning, runningTimeout)
	msg := condition(getApp(t, ns, "social"), platformv1.ConditionAuthReady).Message
	if !strings.Contains(msg, "with github") {
		t.Errorf("AuthReady message %q does not name the provider", msg)
	}
}

func TestDexOutageIsReportedAndRecoversByItself(t *testing.T) {
	ns := checkOutage(t, outage{
		stop: dex.Server.Stop, start: dex.Start,
		app:       newApp("", "idp-down", withAuth()),
		condition: platformv1.ConditionAuthReady, reason: platformv1.ReasonIdentityProviderUnavailable,
		names: "Dex at " + dex.Issuer(),
	})
	if _, err := passwordToken(t, ns, "idp-down"); err != nil {
		t.Fatal(err)
	}
}
