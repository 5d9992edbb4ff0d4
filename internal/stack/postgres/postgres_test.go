package postgres_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/plattr/plattr/internal/stack/postgres"
	"github.com/plattr/plattr/internal/stack/proc"
)

// Regression: Stop sent SIGTERM, PostgreSQL's smart shutdown, which waits
// for every client to disconnect; with a client holding a connection (the
// operator's pool always does) it waited out the whole 30 s grace and then
// SIGKILLed the server. The server's log says which shutdown it was asked
// for; the held session is ended either way.
func TestStopEndsOpenSessionsWithAFastShutdown(t *testing.T) {
	if _, err := postgres.BinDir(); err != nil {
		t.Skipf("no PostgreSQL server binaries: %v", err)
	}
	dir, err := os.MkdirTemp("", "plattr-pg-stop-")
	if err != nil {
		t.Fatal(err)
	}
	// The server may run as the "postgres" user, which must reach its files.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := postgres.New(dir, port, "stop-test-password")
	t.Cleanup(func() { _ = s.Stop(); _ = s.Purge() })
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	held, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(ctx)

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "received fast shutdown request") {
		t.Errorf("the server was not asked for a fast shutdown; its log:\n%s", log)
	}
	_, err = held.Exec(ctx, "SELECT 1")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57P01" {
		t.Errorf("the open session ended with %v; want 57P01 (terminating connection due to administrator command)", err)
	}
}
