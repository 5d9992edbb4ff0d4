// Package authn says who is calling: an API token (Authorization: Bearer,
// for CI and scripts) or a browser session made by signing in through the
// platform's OIDC provider (authorization code flow with PKCE). Tokens and
// sessions are stored only as SHA-256 hashes.
package authn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// TokenPrefix starts every API token, so a leaked one is easy to spot
// (and to scan for).
const TokenPrefix = "plattr_"

// SessionCookie holds a browser session.
const SessionCookie = "plattr_session"

// ErrUnauthenticated means no valid credentials came with the request
// (HTTP 401).
var ErrUnauthenticated = errors.New("sign in, or send an API token as Authorization: Bearer <token>")

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a random string of 32 bytes' entropy with prefix.
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + strings.ToLower(encoding.EncodeToString(b))
}

// Hash is what the store keeps of a token or session.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Hint is the part of a token shown in listings.
func Hint(token string) string {
	if len(token) < len(TokenPrefix)+6 {
		return token
	}
	return token[:len(TokenPrefix)+6] + "…"
}

// Authenticator finds the principal of a request.
type Authenticator struct {
	Store *store.Store
	// SiteAdmins are emails made site admins on first sight (SITE_ADMINS).
	SiteAdmins []string
	OIDC       *OIDC // nil: browser sign-in is off, tokens only
	// GitHub accepts GitHub Actions ID tokens (nil: off).
	GitHub     *GitHub
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure (an https PUBLIC_URL).
	SecureCookies bool
	// LoginLimit rate-limits /auth/login per client (nil: no limit).
	LoginLimit *Limiter
	// Log receives what went wrong server-side; callers see a short message.
	Log logr.Logger
}

func (a *Authenticator) logError(r *http.Request, what string, err error) {
	a.Log.Error(err, what, "path", r.URL.Path)
}

// IsSiteAdmin reports whether configuration names email a site admin.
func (a *Authenticator) IsSiteAdmin(email string) bool {
	return slices.ContainsFunc(a.SiteAdmins, func(s string) bool { return strings.EqualFold(s, email) })
}

// Bootstrap creates the configured site admins, so a first token can be
// issued before anyone signs in.
func (a *Authenticator) Bootstrap(ctx context.Context) error {
	for _, email := range a.SiteAdmins {
		if _, err := a.Store.EnsureUser(ctx, strings.ToLower(email), true); err != nil {
			return err
		}
	}
	return nil
}

// Principal authenticates r and loads the caller's roles.
func (a *Authenticator) Principal(r *http.Request) (*authz.Principal, error) {
	ctx := r.Context()
	var (
		user store.User
		err  error
	)
	if h := r.Header.Get("Authorization"); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		token = strings.TrimSpace(token)
		if ok && a.GitHub != nil && looksLikeJWT(token) {
			p, err := a.GitHub.Principal(ctx, token)
			if err != nil && !errors.Is(err, ErrUnauthenticated) {
				a.logError(r, "checking a GitHub Actions token", err)
			}
			return p, err
		}
		if !ok || !strings.HasPrefix(token, TokenPrefix) {
			return nil, ErrUnauthenticated
		}
		user, err = a.Store.UserByToken(ctx, Hash(strings.TrimSpace(token)))
	} else if c, cerr := r.Cookie(SessionCookie); cerr == nil && c.Value != "" {
		user, err = a.Store.UserBySession(ctx, Hash(c.Value))
	} else {
		return nil, ErrUnauthenticated
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	roles, err := a.Store.RolesOf(ctx, user.ID)
	if err != nil {
		return nil, err
	}
	return &authz.Principal{User: user, Roles: roles}, nil
}

// IssueToken creates an API token for a user; the token is returned once.
func (a *Authenticator) IssueToken(ctx context.Context, userID int64, name string, ttl time.Duration) (string, store.Token, error) {
	secret := NewSecret(TokenPrefix)
	var expires *time.Time
	if ttl > 0 {
		t := time.Now().Add(ttl).UTC().Truncate(time.Second)
		expires = &t
	}
	tok, err := a.Store.CreateToken(ctx, userID, name, Hash(secret), Hint(secret), expires)
	return secret, tok, err
}
