package database_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/testenv/stalled"
)

// TestStalledServerTimesOut: a PostgreSQL address that accepts the
// connection and never answers the startup message (a stuck proxy, a
// half-open path) fails the admin connection once ConnectTimeout has
// passed, with no deadline on the caller's context, instead of hanging the
// reconcile that asked for it.
func TestStalledServerTimesOut(t *testing.T) {
	addr := stalled.Listen(t, nil)
	p, err := database.New(context.Background(), "postgres://admin:pw@"+addr+"/postgres?sslmode=disable", "",
		database.Options{ConnectTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan error, 1)
	go func() { done <- p.Ping(context.Background()) }()
	select {
	case err := <-done:
		var ne net.Error
		if err == nil || !(errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())) {
			t.Fatalf("Ping on a stalled server = %v, want a timeout", err)
		}
	case <-time.After(20 * time.Second): // far above the timeout: only a hang trips it
		t.Fatal("Ping on a stalled server did not return within 20s: a stalled database hangs the reconcile")
	}
}
