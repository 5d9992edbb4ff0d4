package dex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Authorize starts a browser sign-in at Dex for clientID through the
// connector connectorID, follows Dex's own redirects (to the connector and
// back to Dex's callback) the way a browser would, and returns the query
// of the redirect that leaves Dex for redirectURI: a code when Dex let the
// sign-in through, an error (and error_description) when it refused it.
// Dex may also refuse with an error page of its own; that is returned as
// an error naming the HTTP status. It is how tests check which connectors
// a client accepts, with connectors that need no user (mockCallback).
func Authorize(ctx context.Context, issuer, clientID, redirectURI, connectorID string) (url.Values, error) {
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"plattr-test"}, "connector_id": {connectorID},
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	next := issuer + "/auth?" + q.Encode()
	for hops := 0; hops < 10; hops++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return nil, fmt.Errorf("Dex answered HTTP %d at %s: %s", resp.StatusCode, strings.SplitN(next, "?", 2)[0], pageMessage(body))
		}
		loc, err := resp.Location()
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(loc.String(), redirectURI) {
			return loc.Query(), nil
		}
		next = loc.String()
	}
	return nil, errors.New("Dex redirected more than 10 times")
}

// pageMessage is the message of one of Dex's error pages (its first
// paragraph), or the start of the body.
func pageMessage(body []byte) string {
	s := string(body)
	if i := strings.Index(s, "<p>"); i >= 0 {
		s = s[i+3:]
		if j := strings.Index(s, "</p>"); j >= 0 {
			return strings.TrimSpace(s[:j])
		}
	}
	return strings.TrimSpace(s[:min(len(s), 200)])
}
