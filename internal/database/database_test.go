package database_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
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
	if prov, err = database.New(ctx, pg.URL(), "", database.Options{ConnectionLimit: 5}); err != nil {
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

func TestEnsureIsIdempotentAndNeverRewritesAMatchingPassword(t *testing.T) {
	ctx := context.Background()
	n, owner := names("idem"), database.Owner{Namespace: "ns", Name: "idem"}
	change, err := prov.Ensure(ctx, n, owner, "first-password-1")
	if err != nil || !change.Changed {
		t.Fatalf("first Ensure: %+v err=%v", change, err)
	}
	hash := passwordHash(t, n.AppRole)
	if !strings.HasPrefix(hash, "SCRAM-SHA-256$4096:") {
		t.Fatalf("stored password is %.20q…, want a SCRAM verifier", hash)
	}
	// A reconcile with the same password writes nothing, not even a new salt.
	change, err = prov.Ensure(ctx, n, owner, "first-password-1")
	if err != nil || change.Changed {
		t.Fatalf("second Ensure: %+v err=%v, want no change", change, err)
	}
	if passwordHash(t, n.AppRole) != hash {
		t.Fatal("Ensure rewrote a password that matched")
	}
	if err := login(n, "first-password-1"); err != nil {
		t.Fatalf("original password: %v", err)
	}

	// A missing piece is put back, and only that.
	if _, err := admin(t).Exec(ctx, fmt.Sprintf("REVOKE USAGE ON SCHEMA %s FROM %s", naming.QuoteIdentifier(n.Schema), naming.QuoteIdentifier(n.AnonRole))); err != nil {
		t.Fatal(err)
	}
	if change, err := prov.Ensure(ctx, n, owner, "first-password-1"); err != nil || !change.Changed || change.PasswordRestored {
		t.Fatalf("repair: %+v err=%v", change, err)
	}
	var usage bool
	_ = admin(t).QueryRow(ctx, "SELECT has_schema_privilege($1, $2, 'USAGE')", n.AnonRole, n.Schema).Scan(&usage)
	if !usage || passwordHash(t, n.AppRole) != hash {
		t.Fatalf("usage restored=%v, password kept=%v", usage, passwordHash(t, n.AppRole) == hash)
	}
}

// Defect 7: a password changed behind the Secret's back (a restored backup,
// a DBA) left DatabaseReady True while the app could not log in.
func TestADriftedPasswordIsSetBackFromTheSecret(t *testing.T) {
	ctx := context.Background()
	n, owner := names("drift"), database.Owner{Namespace: "ns", Name: "drift"}
	if _, err := prov.Ensure(ctx, n, owner, "secret-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin(t).Exec(ctx, fmt.Sprintf("ALTER ROLE %s PASSWORD 'set-by-a-dba'", naming.QuoteIdentifier(n.AppRole))); err != nil {
		t.Fatal(err)
	}
	if err := login(n, "secret-password-1"); err == nil {
		t.Fatal("the test did not change the password")
	}
	change, err := prov.Ensure(ctx, n, owner, "secret-password-1")
	if err != nil || !change.PasswordRestored {
		t.Fatalf("Ensure after drift: %+v err=%v, want the password restored", change, err)
	}
	if err := login(n, "secret-password-1"); err != nil {
		t.Fatalf("the Secret's password does not work after Ensure: %v", err)
	}
	// A verifier the server made itself for the same password matches: the
	// derivation here is PostgreSQL's.
	if _, err := admin(t).Exec(ctx, fmt.Sprintf("ALTER ROLE %s PASSWORD 'secret-password-1'", naming.QuoteIdentifier(n.AppRole))); err != nil {
		t.Fatal(err)
	}
	if change, err := prov.Ensure(ctx, n, owner, "secret-password-1"); err != nil || change.Changed {
		t.Fatalf("Ensure with a server-made verifier of the same password: %+v err=%v, want no change", change, err)
	}
}

// Defect 8: an app role could create objects outside its schema, connect
// without a grant, run other roles' functions, open unlimited connections.
func TestAppRolesAreHardened(t *testing.T) {
	ctx := context.Background()
	n, owner := names("hard"), database.Owner{Namespace: "ns", Name: "hard"}
	if _, err := prov.Ensure(ctx, n, owner, "hard-password-1"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, prov.Connection(n, "hard-password-1").URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE public.escape (id int)"); err == nil {
		t.Error("the app role created a table in schema public")
	}
	if _, err := conn.Exec(ctx, "CREATE FUNCTION hard_fn() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'"); err != nil {
		t.Fatal(err)
	}
	var publicExec, anonExec bool
	if err := admin(t).QueryRow(ctx, `SELECT has_function_privilege('public', $1, 'EXECUTE'), has_function_privilege($2, $1, 'EXECUTE')`,
		n.Schema+".hard_fn()", n.AnonRole).Scan(&publicExec, &anonExec); err != nil {
		t.Fatal(err)
	}
	if publicExec || anonExec {
		t.Errorf("a new function of the app is executable by PUBLIC (%v) or the anon role (%v)", publicExec, anonExec)
	}
	var limit int
	var publicConnect bool
	_ = admin(t).QueryRow(ctx, "SELECT rolconnlimit FROM pg_roles WHERE rolname = $1", n.AppRole).Scan(&limit)
	_ = admin(t).QueryRow(ctx, "SELECT has_database_privilege('public', current_database(), 'CONNECT')").Scan(&publicConnect)
	if limit != 5 || publicConnect {
		t.Errorf("connection limit %d (want 5), PUBLIC may connect: %v", limit, publicConnect)
	}
	if change, err := prov.Ensure(ctx, n, owner, "hard-password-1"); err != nil || change.Changed {
		t.Errorf("Ensure of a hardened app: %+v err=%v, want no change", change, err)
	}
}

// Defect 8: an idle-in-transaction session holding a lock on the schema hung
// DROP SCHEMA, and with it the app's deletion.
func TestRemoveEndsTheAppsSessionsBeforeDropping(t *testing.T) {
	ctx := context.Background()
	n, owner := names("held"), database.Owner{Namespace: "ns", Name: "held"}
	if _, err := prov.Ensure(ctx, n, owner, "held-password-1"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, prov.Connection(n, "held-password-1").URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id int)"); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	// The session now sits idle in its transaction, holding the lock.
	done := make(chan error, 1)
	go func() { done <- prov.Remove(ctx, n, owner, false) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Remove: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Remove hung behind the app's idle transaction")
	}
	var exists bool
	_ = admin(t).QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", n.Schema).Scan(&exists)
	if exists {
		t.Error("the schema survived Remove")
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
	if change, err := prov.Ensure(ctx, n, owner, "pw-retained-2"); err != nil || !change.Changed {
		t.Fatalf("re-Ensure: %+v err=%v", change, err)
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

// Found by make bench-scale: concurrent reconciles granting CONNECT on the
// one database failed with "tuple concurrently updated".
func TestConcurrentEnsuresOfManyAppsAllSucceed(t *testing.T) {
	ctx := context.Background()
	forEachAppAtOnce(t, "burst", 24, func(n naming.Database, o database.Owner) error {
		_, err := prov.Ensure(ctx, n, o, "burst-password-1")
		return err
	})
}

// Found by make bench-scale at 1,000 apps: concurrent deletions failed in
// DROP OWNED BY with "tuple concurrently updated" (it revoked each role's
// CONNECT on the one database row).
func TestConcurrentRemovesOfManyAppsAllSucceed(t *testing.T) {
	ctx := context.Background()
	const n = 24
	for i := range n {
		name := fmt.Sprintf("gone%d", i)
		if _, err := prov.Ensure(ctx, names(name), database.Owner{Namespace: "ns", Name: name}, "gone-password-1"); err != nil {
			t.Fatal(err)
		}
	}
	forEachAppAtOnce(t, "gone", n, func(n naming.Database, o database.Owner) error {
		return prov.Remove(ctx, n, o, false)
	})
}

// forEachAppAtOnce runs do for apps <prefix>0…<prefix>n-1, all at once, and
// reports every failure.
func forEachAppAtOnce(t *testing.T, prefix string, n int, do func(naming.Database, database.Owner) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("%s%d", prefix, i)
			if err := do(names(name), database.Owner{Namespace: "ns", Name: name}); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
