package server

// Backstage reader tokens: what a Backstage entity provider signs in with.
// A site admin issues one; it reads the whole export and nothing else.
//
// A reader token is an API token (stored hashed, listed, expiring,
// revocable like any) of one reserved user, but its prefix is not
// authn.TokenPrefix: Auth.Principal refuses it, so on every other route it
// is no credential at all (401), and a leaked one shows the catalog, never
// changes it (a token of an ordinary user could still create tenants and
// more tokens). Only the entities route's principal (catalogPrincipal)
// accepts it. The reserved user's address is in .invalid (RFC 2606), which
// no mailbox has; an identity provider that could assert it could as well
// assert a site admin's address, so it is trusted no further than that.

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/store"
)

const (
	// CatalogTokenPrefix starts every Backstage reader token.
	CatalogTokenPrefix = "plattrcat_"
	// CatalogReaderEmail is the reserved user reader tokens belong to.
	CatalogReaderEmail = "backstage-entity-provider@plattr.invalid"
)

// bearer is the request's bearer token, if any.
func bearer(r *http.Request) string {
	t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(t)
}

// isCatalogReader reports whether r was authenticated with a reader token:
// the entities route's principal accepted the request, and it accepts a
// token of this prefix only if it is a valid reader token.
func isCatalogReader(r *http.Request) bool { return strings.HasPrefix(bearer(r), CatalogTokenPrefix) }

// catalogPrincipal authenticates a reader token, or any other credential
// as Auth.Principal does. The reader is a principal with no role: what it
// sees beyond that, the entities handler grants by isCatalogReader.
func (s *Server) catalogPrincipal(r *http.Request) (*authz.Principal, error) {
	token := bearer(r)
	if !strings.HasPrefix(token, CatalogTokenPrefix) {
		return s.Auth.Principal(r)
	}
	u, err := s.Store.UserByToken(r.Context(), authn.Hash(token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Email != CatalogReaderEmail) {
		return nil, authn.ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	u.SiteAdmin = false
	return &authz.Principal{User: u}, nil
}

func (s *Server) catalogReader(c *call) (store.User, error) {
	if err := c.p.Check(authz.SiteAdmin, "", ""); err != nil {
		return store.User{}, err
	}
	return s.Store.EnsureUser(c.ctx(), CatalogReaderEmail, false)
}

func (s *Server) listCatalogTokens(c *call) (any, error) {
	u, err := s.catalogReader(c)
	if err != nil {
		return nil, err
	}
	return s.Store.Tokens(c.ctx(), u.ID)
}

func (s *Server) createCatalogToken(c *call) (any, error) {
	u, err := s.catalogReader(c)
	if err != nil {
		return nil, err
	}
	var req tokenRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Name) == "" {
		return nil, badRequest("name", "name is required: say which Backstage reads with it, e.g. \"backstage-prod\"")
	}
	ttl, err := s.tokenTTL(req.ExpiresIn)
	if err != nil {
		return nil, err
	}
	secret := authn.NewSecret(CatalogTokenPrefix)
	tok, err := s.Store.CreateToken(c.ctx(), u.ID, req.Name+" (by "+c.p.User.Email+")", authn.Hash(secret), secret[:len(CatalogTokenPrefix)+6]+"…", expiry(ttl))
	if err != nil {
		return nil, err
	}
	return newToken{Token: tok, Secret: secret}, nil
}

func (s *Server) revokeCatalogToken(c *call) (any, error) {
	u, err := s.catalogReader(c)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(c.path("id"), 10, 64)
	if err != nil {
		return nil, badRequest("id", "the token id must be a number")
	}
	return nil, s.Store.RevokeToken(c.ctx(), u.ID, id)
}

// expiry is when a token of lifetime ttl expires; nil for none.
func expiry(ttl time.Duration) *time.Time {
	if ttl <= 0 {
		return nil
	}
	t := time.Now().Add(ttl).UTC().Truncate(time.Second)
	return &t
}
