package objectstore_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/objectstore"
)

// stalledServer accepts connections on 127.0.0.1 and never finishes an
// answer: with headersFirst it sends a response's status line and headers
// (promising a body) and then nothing more, else nothing at all. It is a
// store that hangs, not one that refuses: only a client timeout ends a call.
func stalledServer(t *testing.T, headersFirst bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				// Read the request, so the client is waiting for an answer.
				buf := make([]byte, 64<<10)
				n, _ := c.Read(buf)
				if headersFirst {
					head := "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 4096\r\n\r\n"
					if !strings.HasPrefix(string(buf[:n]), "HEAD ") { // a HEAD answer has no body
						head += "<?xml"
					}
					_, _ = c.Write([]byte(head))
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
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
