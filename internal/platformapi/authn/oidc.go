package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDC signs browsers in through the platform's identity provider.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is PUBLIC_URL + CallbackPath, registered at the provider.
	RedirectURL string
	HTTP        *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

// Paths of the sign-in flow.
const (
	LoginPath    = "/auth/login"
	CallbackPath = "/auth/callback"
	LogoutPath   = "/auth/logout"
)

// LoginTimeout is how long a user may take at the provider's login page.
const LoginTimeout = 15 * time.Minute

// discover fetches the provider's discovery document once it answers; a
// provider that starts after the API is found at the first sign-in.
func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	if o.HTTP != nil {
		ctx = oidc.ClientContext(ctx, o.HTTP)
	}
	p, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("the identity provider at %s does not answer (%v); try again shortly", o.Issuer, err)
	}
	o.provider = p
	return p, nil
}

func (o *OIDC) config(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

// Login sends the browser to the provider with a PKCE challenge; the
// state, verifier and nonce wait in a sealed cookie (LoginCookie) for the
// callback, bound to this browser. Calls are rate-limited per client.
func (a *Authenticator) Login(w http.ResponseWriter, r *http.Request) {
	if a.OIDC == nil {
		http.Error(w, "browser sign-in is not configured: set OIDC_ISSUER_URL, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET", http.StatusNotFound)
		return
	}
	if !a.LoginLimit.Allow(r) {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many sign-ins from your address: wait a minute and try again", http.StatusTooManyRequests)
		return
	}
	p, err := a.OIDC.discover(r.Context())
	if err != nil {
		a.providerDown(w, r, err)
		return
	}
	ls := loginState{State: NewSecret(""), Nonce: NewSecret(""), Verifier: oauth2.GenerateVerifier(),
		ReturnTo: SafeReturnTo(r.URL.Query().Get("return_to")), Expires: time.Now().Add(LoginTimeout).Unix()}
	http.SetCookie(w, &http.Cookie{
		Name: LoginCookie, Value: a.OIDC.seal(ls), Path: CallbackPath, HttpOnly: true, Secure: a.SecureCookies,
		// Lax: the provider's redirect back is a top-level navigation.
		SameSite: http.SameSiteLaxMode, MaxAge: int(LoginTimeout.Seconds()),
	})
	http.Redirect(w, r, a.OIDC.config(p).AuthCodeURL(ls.State, oauth2.S256ChallengeOption(ls.Verifier), oidc.Nonce(ls.Nonce)), http.StatusFound)
}

// Callback finishes the sign-in: it exchanges the code with the verifier,
// checks the ID token and opens a session.
func (a *Authenticator) Callback(w http.ResponseWriter, r *http.Request) {
	if a.OIDC == nil {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		http.Error(w, "the identity provider refused the sign-in: "+plain(e)+" "+plain(q.Get("error_description")), http.StatusUnauthorized)
		return
	}
	// The state must be the one sealed in this browser's cookie; the
	// cookie goes either way (one try per sign-in).
	var ls loginState
	err := errLoginState
	if c, cerr := r.Cookie(LoginCookie); cerr == nil {
		ls, err = a.OIDC.open(c.Value, q.Get("state"), time.Now())
	}
	http.SetCookie(w, &http.Cookie{Name: LoginCookie, Value: "", Path: CallbackPath, MaxAge: -1, HttpOnly: true, Secure: a.SecureCookies})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p, err := a.OIDC.discover(ctx)
	if err != nil {
		a.providerDown(w, r, err)
		return
	}
	if a.OIDC.HTTP != nil {
		ctx = oidc.ClientContext(ctx, a.OIDC.HTTP)
	}
	tok, err := a.OIDC.config(p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		a.logError(r, "exchanging the sign-in code", err)
		http.Error(w, "the identity provider did not accept this sign-in's code: start again at "+LoginPath, http.StatusUnauthorized)
		return
	}
	email, name, err := a.verify(ctx, p, tok, ls.Nonce)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	user, err := a.Store.EnsureUser(ctx, email, a.IsSiteAdmin(email))
	if err == nil {
		err = a.Store.RecordLogin(ctx, user.ID, name)
	}
	session := NewSecret("")
	if err == nil {
		err = a.Store.CreateSession(ctx, user.ID, Hash(session), time.Now().Add(a.SessionTTL))
	}
	if err != nil {
		a.logError(r, "opening a session", err)
		http.Error(w, "could not open a session; try again shortly", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: session, Path: "/", HttpOnly: true, Secure: a.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(a.SessionTTL.Seconds()),
	})
	// Checked again: a cookie sealed by an older release must not redirect
	// off-site either.
	http.Redirect(w, r, SafeReturnTo(ls.ReturnTo), http.StatusFound)
}

func (a *Authenticator) verify(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, nonce string) (email, name string, err error) {
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return "", "", errors.New("the identity provider returned no ID token")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: a.OIDC.ClientID}).Verify(ctx, raw)
	if err != nil {
		return "", "", fmt.Errorf("the ID token is not valid: %w", err)
	}
	if idt.Nonce != nonce {
		return "", "", errors.New("the ID token's nonce does not match this sign-in")
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
		Name          string `json:"name"`
	}
	if err := idt.Claims(&claims); err != nil {
		return "", "", err
	}
	if claims.Email == "" {
		return "", "", errors.New("the ID token carries no email: allow the email scope for this client")
	}
	// Only a provider that says the email is verified names the user: a
	// missing claim is not a yes (anyone could sign up as someone else).
	if claims.EmailVerified == nil || !*claims.EmailVerified {
		return "", "", errors.New("the identity provider does not say this email is verified (email_verified is not true): verify it there, or configure the provider to send the claim")
	}
	return strings.ToLower(claims.Email), claims.Name, nil
}

// providerDown answers 503; the provider's address and error go to the
// log only.
func (a *Authenticator) providerDown(w http.ResponseWriter, r *http.Request, err error) {
	a.logError(r, "reaching the identity provider", err)
	http.Error(w, "the identity provider does not answer; try again shortly", http.StatusServiceUnavailable)
}

// plain keeps a provider's error text to printable ASCII, so it cannot
// shape the response.
func plain(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return -1
		}
		return r
	}, s)
}

// Logout ends the session.
func (a *Authenticator) Logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		_ = a.Store.DeleteSession(r.Context(), Hash(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: a.SecureCookies})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// CallbackURL builds the redirect URL from the API's public URL.
func CallbackURL(publicURL string) string {
	u, err := url.Parse(strings.TrimRight(publicURL, "/") + CallbackPath)
	if err != nil {
		return publicURL + CallbackPath
	}
	return u.String()
}
