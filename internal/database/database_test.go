package database_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
	"github.com/plattr/plattr/internal/testenv"
)

var (
	pg   *testenv.Postgres
	prov *database.Provisioner
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	var err error
	if pg, err = testenv.StartPostgres(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if prov, err = database.New(ctx, pg.URL(), ""); err != nil {
		pg.Stop()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cancel()
	code := m.Run()
	prov.Close()
	pg.Stop()
	os.Exit(code)
}

func admin(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func names(app string) naming.Database {
	return naming.Database{
		Schema:   naming.Identifier("staging", app),
		AppRole:  naming.Identifier("staging", app, "app"),
		AnonRole: naming.Identifier("staging", app, "anon"),
	}
}

func passwordHash(t *testing.T, role string) string {
	t.Helper()
	var h string
	if err := admin(t).QueryRow(context.Background(), "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func login(n naming.Database, password string) error {
	conn, err := pgx.Connect(context.Background(), prov.Connection(n, password).URL)
	if err != nil {
		return err
	}
	return conn.Close(context.Background())
}

func TestEnsureIsIdempotentAndNeverResetsThePassword(t *testing.T) {
	ctx := context.Background()
	n, owner := names("idem"), database.Owner{Namespace: "ns", Name: "idem"}
	changed, err := prov.Ensure(ctx, n, owner, "first-password-1")
	if err != nil || !changed {
		t.Fatalf("first Ensure: changed=%v err=%v", changed, err)
	}
	hash := passwordHash(t, n.AppRole)
	// A reconcile that passes another password must not apply it.
	changed, err = prov.Ensure(ctx, n, owner, "other-password-2")
	if err != nil || changed {
		t.Fatalf("second Ensure: changed=%v err=%v, want no change", changed, err)
	}
	if passwordHash(t, n.AppRole) != hash {
		t.Fatal("Ensure rewrote the password of an existing role")
	}
	if err := login(n, "first-password-1"); err != nil {
		t.Fatalf("original password: %v", err)
	}

	// A missing piece is put back, and only that.
	if _, err := admin(t).Exec(ctx, fmt.Sprintf("REVOKE USAGE ON SCHEMA %s FROM %s", naming.QuoteIdentifier(n.Schema), naming.QuoteIdentifier(n.AnonRole))); err != nil {
		t.Fatal(err)
	}
	if changed, err := prov.Ensure(ctx, n, owner, "x"); err != nil || !changed {
		t.Fatalf("repair: changed=%v err=%v", changed, err)
	}
	var usage bool
	_ = admin(t).QueryRow(ctx, "SELECT has_schema_privilege($1, $2, 'USAGE')", n.AnonRole, n.Schema).Scan(&usage)
	if !usage || passwordHash(t, n.AppRole) != hash {
		t.Fatalf("usage restored=%v, password kept=%v", usage, passwordHash(t, n.AppRole) == hash)
	}
}

func TestRotateReplacesThePassword(t *testing.T) {
	ctx := context.Background()
	n, owner := names("rot"), database.Owner{Namespace: "ns", Name: "rot"}
	if _, err := prov.Ensure(ctx, n, owner, "old-password-1"); err != nil {
		t.Fatal(err)
	}
	if err := prov.Rotate(ctx, n, owner, "new-password-2"); err != nil {
		t.Fatal(err)
	}
	if err := login(n, "new-password-2"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := login(n, "old-password-1"); err == nil {
		t.Fatal("old password still works")
	}
}

func TestOwnershipConflict(t *testing.T) {
	ctx := context.Background()
	n := names("shared")
	if _, err := prov.Ensure(ctx, n, database.Owner{Namespace: "a", Name: "shared"}, "pw-aaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	_, err := prov.Ensure(ctx, n, database.Owner{Namespace: "b", Name: "shared"}, "pw-bbbbbbbb")
	if !errors.Is(err, database.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	// Removal by the wrong owner must not touch the other app's data.
	if err := prov.Remove(ctx, n, database.Owner{Namespace: "b", Name: "shared"}, false); err != nil {
		t.Fatal(err)
	}
	var exists bool
	_ = admin(t).QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", n.Schema).Scan(&exists)
	if !exists {
		t.Fatal("another owner's Remove dropped the schema")
	}
}

func TestRetainKeepsDataAndAReturningAppLogsInAgain(t *testing.T) {
	ctx := context.Background()
	n, owner := names("retained"), database.Owner{Namespace: "ns", Name: "retained"}
	if _, err := prov.Ensure(ctx, n, owner, "pw-retained-1"); err != nil {
		t.Fatal(err)
	}
	if err := prov.Remove(ctx, n, owner, true); err != nil {
		t.Fatal(err)
	}
	if err := login(n, "pw-retained-1"); err == nil {
		t.Fatal("a retained role can still log in")
	}
	if changed, err := prov.Ensure(ctx, n, owner, "pw-retained-2"); err != nil || !changed {
		t.Fatalf("re-Ensure: changed=%v err=%v", changed, err)
	}
	if err := login(n, "pw-retained-2"); err != nil {
		t.Fatalf("returning app cannot log in: %v", err)
	}
}

func TestConnectionURLIsPlainLibpq(t *testing.T) {
	info := prov.Connection(names("url"), "p4ss")
	u, err := url.Parse(info.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Query().Has("search_path") || u.Query().Has("schema") {
		t.Errorf("URL %s carries a search_path parameter libpq does not accept", info.URL)
	}
	if u.User.Username() != "staging_url_app" || info.Schema != "staging_url" {
		t.Errorf("user %q schema %q", u.User.Username(), info.Schema)
	}
}
