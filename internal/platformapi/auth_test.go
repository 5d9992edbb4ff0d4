package platformapi_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/testenv"
)

var formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)

// signIn goes through the browser sign-in against the real Dex: the API
// redirects with a PKCE challenge, Dex shows its login form, the form is
// submitted, Dex redirects back with a code, the API exchanges it with
// the verifier and opens a session.
func signIn(t *testing.T, email, password string) (*http.Client, *http.Response) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var hops []string
	hc := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		hops = append(hops, req.URL.String())
		return nil
	}}
	resp, err := hc.Get(apiA.URL + authn.LoginPath + "?return_to=/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(hops) == 0 || !strings.HasPrefix(hops[0], dex.Issuer()+"/auth") {
		t.Fatalf("sign-in did not redirect to Dex: %v", hops)
	}
	authURL, _ := url.Parse(hops[0])
	q := authURL.Query()
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" || q.Get("client_id") != oidcClientID {
		t.Fatalf("authorization request lacks PKCE: %s", authURL)
	}
	m := formAction.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no login form at %s: %s", resp.Request.URL, body)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.PostForm(action.String(), url.Values{"login": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	return hc, resp
}

func TestBrowserSignInWithPKCEAgainstDex(t *testing.T) {
	hc, resp := signIn(t, testenv.TestUserEmail, testenv.TestUserPassword)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/api/v1/me" {
		t.Fatalf("after sign-in: HTTP %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	if !strings.Contains(string(body), `"email":"`+testenv.TestUserEmail+`"`) {
		t.Fatalf("/api/v1/me after sign-in: %s", body)
	}
	// The session cookie is HttpOnly and only its hash is stored.
	u, _ := url.Parse(apiA.URL)
	var session string
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == authn.SessionCookie {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatal("no session cookie")
	}
	var plain int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE encode(hash, 'escape') LIKE '%' || $1 || '%'", session).Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("session stored in clear: %d %v", plain, err)
	}
	// The session works on the other replica too.
	req, _ := http.NewRequest("GET", apiB.URL+"/api/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: authn.SessionCookie, Value: session})
	r2, err := http.DefaultClient.Do(req)
	if err != nil || r2.StatusCode != 200 {
		t.Fatalf("session on replica B: %v %v", r2.StatusCode, err)
	}
	r2.Body.Close()

	// Wrong password: no session.
	_, bad := signIn(t, testenv.TestUserEmail, "wrong")
	bad.Body.Close()
	if bad.Request.URL.Path == "/api/v1/me" {
		t.Fatal("a wrong password signed in")
	}

	// A cookie-authenticated write from another site is refused.
	req, _ = http.NewRequest("POST", apiA.URL+"/api/v1/tokens", strings.NewReader(`{"name":"x"}`))
	req.AddCookie(&http.Cookie{Name: authn.SessionCookie, Value: session})
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	r3, err := http.DefaultClient.Do(req)
	if err != nil || r3.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site write: %v %v", r3.StatusCode, err)
	}
	r3.Body.Close()

	// Sign-out ends the session everywhere.
	req, _ = http.NewRequest("POST", apiA.URL+authn.LogoutPath, nil)
	req.AddCookie(&http.Cookie{Name: authn.SessionCookie, Value: session})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r4, err := noFollow.Do(req)
	if err != nil || r4.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %v %v", r4.StatusCode, err)
	}
	r4.Body.Close()
	req, _ = http.NewRequest("GET", apiB.URL+"/api/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: authn.SessionCookie, Value: session})
	r5, _ := http.DefaultClient.Do(req)
	if r5.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after sign-out: HTTP %d", r5.StatusCode)
	}
	r5.Body.Close()
}

func TestTokensWorkUntilRevokedOrExpired(t *testing.T) {
	c := asUser(t, "tokens@plattr.test")
	var created struct {
		Token string `json:"token"`
		Info  struct {
			ID   int64  `json:"id"`
			Hint string `json:"hint"`
		} `json:"info"`
	}
	c.must(t, 201, "POST", "/api/v1/tokens", map[string]any{"name": "ci"}, &created)
	if !strings.HasPrefix(created.Token, authn.TokenPrefix) || !strings.HasPrefix(created.Token, strings.TrimSuffix(created.Info.Hint, "…")) {
		t.Fatalf("created token = %+v", created)
	}
	ci := &caller{base: apiB.URL, token: created.Token}
	ci.must(t, 200, "GET", "/api/v1/me", nil, nil)

	// Listed with its last use, never with the token itself.
	listing := c.must(t, 200, "GET", "/api/v1/tokens", nil, nil)
	if strings.Contains(listing, created.Token) || !strings.Contains(listing, `"lastUsedAt"`) {
		t.Fatalf("token listing: %s", listing)
	}
	var inDB int
	_ = db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM api_tokens WHERE hash = convert_to($1, 'UTF8') OR hint = $1", created.Token).Scan(&inDB)
	if inDB != 0 {
		t.Fatal("the token is stored in clear")
	}

	c.must(t, 204, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", created.Info.ID), nil, nil)
	if code, body := ci.do(t, "GET", "/api/v1/me", nil, nil); code != 401 || !strings.Contains(body, "Bearer") {
		t.Fatalf("revoked token: HTTP %d %s", code, body)
	}

	var short struct {
		Token string `json:"token"`
	}
	c.must(t, 201, "POST", "/api/v1/tokens", map[string]any{"name": "short", "expiresIn": "1s"}, &short)
	sc := &caller{base: apiA.URL, token: short.Token}
	sc.must(t, 200, "GET", "/api/v1/me", nil, nil)
	eventually(t, 5*time.Second, "token expired", func() error {
		if code, _ := sc.do(t, "GET", "/api/v1/me", nil, nil); code != 401 {
			return fmt.Errorf("HTTP %d", code)
		}
		return nil
	})

	// Bad input names the field.
	if code, body := c.do(t, "POST", "/api/v1/tokens", map[string]any{"name": "x", "expiresIn": "soon"}, nil); code != 400 || !strings.Contains(body, `"field":"expiresIn"`) {
		t.Fatalf("bad expiresIn: HTTP %d %s", code, body)
	}
	// Garbage credentials are 401, never 500.
	for _, h := range []string{"Bearer nope", "Basic abc", "Bearer " + authn.TokenPrefix + "unknown"} {
		req, _ := http.NewRequest("GET", apiA.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 401 {
			t.Fatalf("%q: HTTP %v %v", h, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
}
