package objectstore_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/objectstore"
	"github.com/plattr/plattr/internal/testenv/stalled"
)

// stalledServer is a store that hangs, not one that refuses: with
// headersFirst it sends a response's status line and headers (promising a
// body) and then nothing more, else nothing at all.
func stalledServer(t *testing.T, headersFirst bool) string {
	answer := stalled.ReadOnly
	if headersFirst {
		answer = func(c net.Conn) {
			buf := make([]byte, 64<<10)
			n, _ := c.Read(buf)
			head := "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 4096\r\n\r\n"
			if !strings.HasPrefix(string(buf[:n]), "HEAD ") { // a HEAD answer has no body
				head += "<?xml"
			}
			_, _ = c.Write([]byte(head))
		}
	}
	return "http://" + stalled.Listen(t, answer)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		strings.Contains(err.Error(), "timeout") || strings.Contains(err.Error(), "deadline")
}

// TestStalledStoreTimesOut: a store that accepts a call and never answers
// it (or sends headers and stalls in the body) must not hang a reconcile.
// Every call — S3 data calls and versitygw's admin API — returns an
// UnavailableError naming a timeout once Config.Timeout has passed, with
// no deadline on the caller's context.
func TestStalledStoreTimesOut(t *testing.T) {
	const timeout = 500 * time.Millisecond
	const guard = 20 * time.Second // far above the timeout: only a hang trips it
	for _, headersFirst := range []bool{false, true} {
		endpoint := stalledServer(t, headersFirst)
		st, err := objectstore.New(objectstore.Config{
			Endpoint: endpoint, AccessKey: "a", SecretKey: "b", AdminEndpoint: endpoint, Timeout: timeout,
		})
		if err != nil {
			t.Fatal(err)
		}
		calls := map[string]func(context.Context) error{
			"Ping": st.Ping,
			"EnsureBucket": func(ctx context.Context) error {
				_, err := st.EnsureBucket(ctx, objectstore.Bucket{Name: "plattr-stall-test", Owner: "app"})
				return err
			},
			"Owned": func(ctx context.Context) error {
				_, err := st.Owned(ctx, "p", "app")
				return err
			},
			"RemoveBucket": func(ctx context.Context) error {
				_, err := st.RemoveBucket(ctx, "plattr-stall-test")
				return err
			},
			"EnsureUser":  func(ctx context.Context) error { return st.EnsureUser(ctx, "app-x", "secretsecret", "") },
			"UserSecrets": func(ctx context.Context) error { _, err := st.UserSecrets(ctx); return err },
		}
		for name, call := range calls {
			t.Run(name+map[bool]string{false: "/silent", true: "/headers-then-stall"}[headersFirst], func(t *testing.T) {
				done := make(chan error, 1)
				go func() { done <- call(context.Background()) }()
				select {
				case err := <-done:
					var ue *objectstore.UnavailableError
					if err == nil || !errors.As(err, &ue) || !isTimeout(err) {
						t.Fatalf("%s on a stalled store = %v, want an UnavailableError naming a timeout", name, err)
					}
				case <-time.After(guard):
					t.Fatalf("%s on a stalled store did not return within %s (timeout %s): a stalled store hangs the reconcile", name, guard, timeout)
				}
			})
		}
	}
}
