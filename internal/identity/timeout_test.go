package identity_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/testenv/stalled"
)

// stalledServer reads the request and never finishes an answer: with
// headersFirst it sends a status line and headers promising a body, then
// nothing; else nothing at all.
func stalledServer(t *testing.T, headersFirst bool) string {
	answer := stalled.ReadOnly
	if headersFirst {
		answer = stalled.HTTPHeadersThenNothing("application/json", "{")
	}
	return "http://" + stalled.Listen(t, answer)
}

// TestStalledIdentityProviderTimesOut: a Keycloak or Dex that accepts a
// call and never answers it fails the call with an UnavailableError once
// the provider's Timeout has passed — the caller's context has no
// deadline — so a stalled provider cannot hang a reconcile.
func TestStalledIdentityProviderTimesOut(t *testing.T) {
	const timeout = 500 * time.Millisecond
	const guard = 20 * time.Second // far above the timeout: only a hang trips it
	for _, headersFirst := range []bool{false, true} {
		url := stalledServer(t, headersFirst)
		kc := &identity.Keycloak{URL: url, User: "admin", Password: "pw", Timeout: timeout}
		dex := &identity.Dex{Issuer: url + "/dex", Namespace: "dex", Timeout: timeout}
		calls := map[string]func(context.Context) error{
			"Keycloak.Ping": kc.Ping,
			"Keycloak.Ensure": func(ctx context.Context) error {
				_, _, err := kc.Ensure(ctx, shopClient("staging", "h"))
				return err
			},
			"Dex.Ping": dex.Ping,
			"Dex.Ensure": func(ctx context.Context) error {
				_, _, err := dex.Ensure(ctx, shopClient("staging", "h"))
				return err
			},
		}
		for name, call := range calls {
			t.Run(name+map[bool]string{false: "/silent", true: "/headers-then-stall"}[headersFirst], func(t *testing.T) {
				done := make(chan error, 1)
				go func() { done <- call(context.Background()) }()
				select {
				case err := <-done:
					var ue *identity.UnavailableError
					var ne net.Error
					if err == nil || !errors.As(err, &ue) ||
						!(errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) || strings.Contains(err.Error(), "Timeout")) {
						t.Fatalf("%s on a stalled provider = %v, want an UnavailableError naming a timeout", name, err)
					}
				case <-time.After(guard):
					t.Fatalf("%s on a stalled provider did not return within %s (timeout %s)", name, guard, timeout)
				}
			})
		}
	}
}
