package authn

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// testIssuer is a minimal OpenID provider for tests. It follows OpenID
// Connect Core 1.0's documented formats: a discovery document
// (/.well-known/openid-configuration, OpenID Connect Discovery 1.0), a JWKS
// with one RSA key, and a token endpoint returning an ID token signed
// RS256 as a JWS compact serialization (RFC 7515) with the claims iss,
// sub, aud, exp, iat, nonce and whatever the test sets (Core §2, §3.1.3.3).
// Dex's password connector always says email_verified: true, so the
// missing claim needs this.
type testIssuer struct {
	*httptest.Server
	key *rsa.PrivateKey

	mu     sync.Mutex
	claims map[string]any // extra claims of the next ID token
	nonce  string
}

func newTestIssuer(t *testing.T) *testIssuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &testIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": is.URL, "authorization_endpoint": is.URL + "/auth", "token_endpoint": is.URL + "/token",
			"jwks_uri": is.URL + "/keys", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	b64 := base64.RawURLEncoding.EncodeToString
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		is.mu.Lock()
		claims := map[string]any{"iss": is.URL, "sub": "u1", "aud": "portal", "iat": time.Now().Unix(),
			"exp": time.Now().Add(time.Hour).Unix(), "nonce": is.nonce}
		for k, v := range is.claims {
			claims[k] = v
		}
		is.mu.Unlock()
		hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "k1", "typ": "JWT"})
		body, _ := json.Marshal(claims)
		signing := b64(hdr) + "." + b64(body)
		sum := sha256.Sum256([]byte(signing))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600,
			"id_token": signing + "." + b64(sig)})
	})
	is.Server = httptest.NewServer(mux)
	t.Cleanup(is.Close)
	return is
}

// An ID token that does not say email_verified: true names nobody: a
// missing claim is refused like a false one; true passes the check.
func TestSignInNeedsAVerifiedEmail(t *testing.T) {
	is := newTestIssuer(t)
	a := &Authenticator{OIDC: &OIDC{Issuer: is.URL, ClientID: "portal", ClientSecret: "s", RedirectURL: "http://api.test" + CallbackPath}}
	for _, tc := range []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"missing", map[string]any{"email": "mallory@example.com"}, false},
		{"false", map[string]any{"email": "mallory@example.com", "email_verified": false}, false},
		{"a string", map[string]any{"email": "mallory@example.com", "email_verified": "true"}, false},
		{"true", map[string]any{"email": "Alice@Example.com", "email_verified": true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Start a sign-in: its cookie and the provider URL's state and nonce.
			rec := httptest.NewRecorder()
			a.Login(rec, httptest.NewRequest("GET", LoginPath, nil))
			loc, _ := url.Parse(rec.Header().Get("Location"))
			var cookie *http.Cookie
			for _, c := range rec.Result().Cookies() {
				if c.Name == LoginCookie {
					cookie = c
				}
			}
			if rec.Code != http.StatusFound || cookie == nil || loc.Query().Get("state") == "" {
				t.Fatalf("login: HTTP %d, cookie %v, location %s", rec.Code, cookie, loc)
			}
			is.mu.Lock()
			is.claims, is.nonce = tc.claims, loc.Query().Get("nonce")
			is.mu.Unlock()
			p, err := a.OIDC.discover(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			tok, err := a.OIDC.config(p).Exchange(t.Context(), "code")
			if err != nil {
				t.Fatal(err)
			}
			email, _, err := a.verify(t.Context(), p, tok, is.nonce)
			switch {
			case tc.ok && (err != nil || email != "alice@example.com"):
				t.Fatalf("a verified email: %q %v", email, err)
			case !tc.ok && err == nil:
				t.Fatalf("email_verified %s: signed in as %q", tc.name, email)
			case !tc.ok && !strings.Contains(err.Error(), "email_verified"):
				t.Fatalf("the refusal does not name the claim: %v", err)
			}
			if !tc.ok {
				// Through the callback: refused before any session.
				req := httptest.NewRequest("GET", CallbackPath+"?code=c&state="+loc.Query().Get("state"), nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				a.Callback(rec, req)
				if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "email_verified") {
					t.Fatalf("callback: HTTP %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// The sealed sign-in opens only with its own state, intact and in time.
func TestLoginStateSeal(t *testing.T) {
	o := &OIDC{ClientSecret: "secret"}
	now := time.Now()
	sealed := o.seal(loginState{State: "st", Verifier: "v", Nonce: "n", ReturnTo: "/x", Expires: now.Add(time.Minute).Unix()})
	if ls, err := o.open(sealed, "st", now); err != nil || ls.Verifier != "v" || ls.ReturnTo != "/x" {
		t.Fatalf("open: %+v %v", ls, err)
	}
	if _, err := o.open(sealed, "other", now); err == nil {
		t.Fatal("opened with another state")
	}
	if _, err := o.open(sealed, "st", now.Add(2*time.Minute)); err == nil {
		t.Fatal("opened after it expired")
	}
	if _, err := (&OIDC{ClientSecret: "another"}).open(sealed, "st", now); err == nil {
		t.Fatal("opened with another key")
	}
	b := []byte(sealed)
	b[len(b)/2] ^= 1
	if _, err := o.open(string(b), "st", now); err == nil {
		t.Fatal("opened a tampered cookie")
	}
}
