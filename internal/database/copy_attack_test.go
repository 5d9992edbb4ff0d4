package database_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

// The attacker of these tests is a parent app's developer: with the app's
// own credentials they put SQL into the schema a preview copies from, and
// with the preview's credentials (the same team's) into the preview's
// empty schema. None of it may ever run as the operator's admin.

// copyPair is a parent app and its preview, provisioned, with the parent's
// connection.
type copyPair struct {
	parent, preview       naming.Database
	parentPW, previewPW   string
	p                     *pgx.Conn
	parentOwner, prvOwner database.Owner
}

func newCopyPair(t *testing.T, app string) copyPair {
	t.Helper()
	ctx := context.Background()
	c := copyPair{
		parent: names(app),
		preview: naming.Database{
			Schema: "preview_" + app + "_pr1", AppRole: "preview_" + app + "_pr1_app", AnonRole: "preview_" + app + "_pr1_anon",
		},
		parentPW: "parent-pw-" + app, previewPW: "preview-pw-" + app,
		parentOwner: database.Owner{Namespace: "ns", Name: app},
		prvOwner:    database.Owner{Namespace: "preview-" + app + "-pr-1", Name: app},
	}
	if err := prov.Rotate(ctx, c.parent, c.parentOwner, c.parentPW); err != nil {
		t.Fatal(err)
	}
	if err := prov.Rotate(ctx, c.preview, c.prvOwner, c.previewPW); err != nil {
		t.Fatal(err)
	}
	c.p = connectAs(t, c.parent, c.parentPW)
	return c
}

// copy runs the copy under test with the admin provisioner.
func (c copyPair) copy(ctx context.Context) (database.CopyResult, error) {
	return c.copyWith(ctx, prov)
}

func (c copyPair) copyWith(ctx context.Context, p *database.Provisioner) (database.CopyResult, error) {
	return p.CopySchema(ctx, c.parent, c.preview, c.previewPW, 1<<30)
}

func execAll(t *testing.T, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// probeFunction is the parent's function that says who runs it: as anyone
// but the parent's own role it raises, naming the user. IMMUTABLE (a lie)
// so generated columns and index expressions may call it too.
func probeFunction(parentRole string) string {
	return `CREATE FUNCTION probe(v int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF current_user <> '` + parentRole + `' THEN
    RAISE EXCEPTION 'probe ran as % (session %)', current_user, session_user;
  END IF;
  RETURN true;
END $$`
}

// previewObjects counts what the preview's schema holds: relations and types
// (an array type goes with its element).
func previewObjects(t *testing.T, schema string) (relations, types int) {
	t.Helper()
	err := admin(t).QueryRow(context.Background(), `SELECT
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1),
  (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 AND t.typelem = 0 AND t.typrelid = 0)`,
		schema).Scan(&relations, &types)
	if err != nil {
		t.Fatal(err)
	}
	return relations, types
}

func adminUser(t *testing.T) string {
	t.Helper()
	var u string
	if err := admin(t).QueryRow(context.Background(), "SELECT current_user").Scan(&u); err != nil {
		t.Fatal(err)
	}
	return u
}

// Every place a table keeps code that PostgreSQL evaluates when rows go in
// or an index is built: the copy must never evaluate the parent's code as
// the admin. The preview's role cannot run the parent's functions either
// (it may not use the parent's schema), so the copy fails, naming the table
// and the constraint, column, index or domain — and leaves the preview's
// schema empty.
func TestCopySchemaNeverEvaluatesTheParentsCodeAsTheAdmin(t *testing.T) {
	ctx := context.Background()
	su := adminUser(t)
	if _, err := admin(t).Exec(ctx, "CREATE SCHEMA IF NOT EXISTS copy_shared"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		app   string
		ddl   []string
		named []string // what the error must name
	}{
		{"check constraint", "atkcheck", []string{
			"CREATE TABLE t (id int CONSTRAINT t_probe CHECK (probe(id)))",
		}, []string{`table "t"`, `"t_probe"`}},
		{"domain check", "atkdomain", []string{
			"CREATE DOMAIN probed AS int CONSTRAINT probed_ok CHECK (probe(VALUE))",
			"CREATE TABLE t (id probed)",
		}, []string{`"probed"`, `"probed_ok"`, `"t"`}},
		{"generated column", "atkgen", []string{
			"CREATE TABLE t (id int, ok boolean GENERATED ALWAYS AS (probe(id)) STORED)",
		}, []string{`table "t"`, `"ok"`}},
		{"expression index", "atkexpr", []string{
			"CREATE TABLE t (id int)",
			"CREATE INDEX t_probe_idx ON t ((probe(id)))",
		}, []string{`table "t"`, `"t_probe_idx"`}},
		{"partial index", "atkpart", []string{
			"CREATE TABLE t (id int)",
			"CREATE INDEX t_partial_idx ON t (id) WHERE probe(id)",
		}, []string{`table "t"`, `"t_partial_idx"`}},
		// The planner folds an index's constant subexpressions when it
		// first plans a query on the table — any query, a plain SELECT of
		// the rows included: the admin must not plan one.
		{"constant index predicate", "atkfold", []string{
			"CREATE TABLE t (id int)",
			"CREATE INDEX t_folded_idx ON t (id) WHERE probe(0)",
		}, []string{`table "t"`, `"t_folded_idx"`}},
		{"constant index expression", "atkfoldx", []string{
			"CREATE TABLE t (id int)",
			"CREATE INDEX t_foldedx_idx ON t ((id > 0 AND probe(0)))",
		}, []string{`table "t"`, `"t_foldedx_idx"`}},
		{"exclusion constraint", "atkexcl", []string{
			"CREATE TABLE t (id int, CONSTRAINT t_excl EXCLUDE USING btree ((probe(id)) WITH =))",
		}, []string{`table "t"`, `"t_excl"`}},
		{"column default", "atkdef", []string{
			"CREATE TABLE t (id int, ok boolean DEFAULT probe(0))",
		}, []string{`table "t"`, `"ok"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCopyPair(t, tc.app)
			execAll(t, c.p, append([]string{probeFunction(c.parent.AppRole)}, tc.ddl...)...)
			execAll(t, c.p, "INSERT INTO t (id) VALUES (1)") // runs the code as the parent: allowed

			_, err := c.copy(ctx)
			t.Logf("copy: %v", err) // what the tenant reads
			if err != nil && strings.Contains(err.Error(), "probe ran as") {
				t.Fatalf("the parent's code ran outside the parent's role: %v", err)
			}
			if !errors.Is(err, database.ErrCopyUnsupported) {
				t.Fatalf("copy: %v, want ErrCopyUnsupported", err)
			}
			for _, want := range tc.named {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error %q does not name %s", err, want)
				}
			}
			if rels, types := previewObjects(t, c.preview.Schema); rels != 0 || types != 0 {
				t.Errorf("the failed copy left %d relation(s) and %d type(s) in the preview", rels, types)
			}
			_ = su
		})
	}

	// A function the parent may run and the preview's role may not (another
	// schema, EXECUTE granted to the parent only) fails the copy as well.
	t.Run("function the preview may not run", func(t *testing.T) {
		c := newCopyPair(t, "atkshared")
		execAll(t, admin(t),
			"CREATE FUNCTION copy_shared.guard(int) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
			"REVOKE EXECUTE ON FUNCTION copy_shared.guard(int) FROM PUBLIC",
			"GRANT USAGE ON SCHEMA copy_shared TO "+naming.QuoteIdentifier(c.parent.AppRole),
			"GRANT EXECUTE ON FUNCTION copy_shared.guard(int) TO "+naming.QuoteIdentifier(c.parent.AppRole))
		execAll(t, c.p, "CREATE TABLE t (id int CONSTRAINT t_guard CHECK (copy_shared.guard(id)))", "INSERT INTO t VALUES (1)")
		_, err := c.copy(ctx)
		if !errors.Is(err, database.ErrCopyUnsupported) || !strings.Contains(err.Error(), `table "t"`) || !strings.Contains(err.Error(), `"t_guard"`) {
			t.Fatalf("copy: %v, want ErrCopyUnsupported naming table t and constraint t_guard", err)
		}
		if rels, types := previewObjects(t, c.preview.Schema); rels != 0 || types != 0 {
			t.Errorf("the failed copy left %d relation(s) and %d type(s) in the preview", rels, types)
		}
		// Fixed in the parent, the next copy starts afresh and succeeds.
		execAll(t, c.p, "ALTER TABLE t DROP CONSTRAINT t_guard")
		res, err := c.copy(ctx)
		if err != nil || res.Tables != 1 || res.Rows != 1 {
			t.Fatalf("the copy after the fix: %+v, %v; want 1 table, 1 row", res, err)
		}
	})
}

// The reproduction: a CHECK constraint calling a function that
// records who runs it and, as a superuser, makes its own role superuser.
// A function of the same name that the preview's team put into the
// preview's schema beforehand tries the same after RESET ROLE — which is
// why the copy writes as the preview's role logged in as itself, never
// as the admin under SET ROLE (code can RESET ROLE back to the session's
// user).
func TestCopySchemaDoesNotLetTenantCodeBecomeTheAdmin(t *testing.T) {
	ctx := context.Background()
	c := newCopyPair(t, "atkesc")
	escalate := func(role, log string) string {
		record := ""
		if log != "" {
			record = "INSERT INTO " + log + " VALUES (current_user, session_user);"
		}
		return fmt.Sprintf(`CREATE FUNCTION escalate(v int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  BEGIN EXECUTE 'RESET ROLE'; EXCEPTION WHEN OTHERS THEN NULL; END;
  %s
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('ALTER ROLE %%I SUPERUSER', %s);
  END IF;
  RETURN true;
END $$`, record, "'"+role+"'")
	}
	execAll(t, c.p,
		"CREATE TABLE probe_log (who text, session text)",
		escalate(c.parent.AppRole, naming.QuoteIdentifier(c.parent.Schema)+".probe_log"),
		"CREATE TABLE t (id int CONSTRAINT t_escalate CHECK (escalate(id)))",
		"INSERT INTO t VALUES (1)",
		"TRUNCATE probe_log")
	execAll(t, connectAs(t, c.preview, c.previewPW), escalate(c.preview.AppRole, ""))

	_, err := c.copy(ctx)
	t.Logf("copy: %v", err)
	var who []string
	rows, qerr := c.p.Query(ctx, "SELECT who || '/' || session FROM probe_log")
	if qerr != nil {
		t.Fatal(qerr)
	}
	if who, qerr = pgx.CollectRows(rows, pgx.RowTo[string]); qerr != nil {
		t.Fatal(qerr)
	}
	if len(who) > 0 {
		t.Errorf("the parent's function ran during the copy as %v", who)
	}
	for _, role := range []string{c.parent.AppRole, c.preview.AppRole} {
		var super bool
		if err := admin(t).QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = $1", role).Scan(&super); err != nil || super {
			t.Errorf("role %s is superuser after the copy (%v)", role, err)
		}
	}
	// The check now calls the preview's own function, as the preview's role.
	if err != nil {
		t.Fatalf("copy: %v; want it to succeed with the preview's own function", err)
	}
	var def string
	if err := admin(t).QueryRow(ctx, `SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k
		JOIN pg_class r ON r.oid = k.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
		WHERE n.nspname = $1 AND k.conname = 't_escalate'`, c.preview.Schema).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "escalate(id)") || strings.Contains(def, c.parent.Schema) {
		t.Errorf("the copied check is %q, want it to call the preview's escalate", def)
	}
}

// Row-level security: the admin reads a table with policies only if it
// bypasses them (a superuser, BYPASSRLS), so no policy expression runs as
// the admin; the copy keeps row-level security on, with no policy, so the
// preview's anon role does not read what the parent's policies hid.
func TestCopySchemaKeepsRowLevelSecurityAndNeverRunsPoliciesAsTheAdmin(t *testing.T) {
	ctx := context.Background()
	c := newCopyPair(t, "atkrls")
	execAll(t, c.p,
		probeFunction(c.parent.AppRole),
		"CREATE TABLE notes (id int, body text)",
		"INSERT INTO notes VALUES (1, 'public'), (2, 'private')",
		"CREATE POLICY only_probed ON notes USING (probe(id))",
		"ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
		"ALTER TABLE notes FORCE ROW LEVEL SECURITY")
	res, err := c.copy(ctx)
	if err != nil {
		t.Fatalf("copy as a superuser: %v", err)
	}
	if res.Rows != 2 {
		t.Errorf("copied %d rows, want 2 (the admin bypasses the policies)", res.Rows)
	}
	var enabled, forced bool
	if err := admin(t).QueryRow(ctx, "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass",
		c.preview.Schema+".notes").Scan(&enabled, &forced); err != nil {
		t.Fatal(err)
	}
	if !enabled || !forced {
		t.Errorf("row-level security on the copy: enabled %v forced %v, want both as in the parent", enabled, forced)
	}
	tx, err := admin(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var n int
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+naming.QuoteIdentifier(c.preview.AnonRole)); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+naming.QuoteIdentifier(c.preview.Schema)+".notes").Scan(&n); err != nil || n != 0 {
		t.Errorf("the preview's anon role reads %d notes (%v), want 0 until the app creates its policies", n, err)
	}
}

func TestCopySchemaRefusesRowLevelSecurityTheAdminCannotBypass(t *testing.T) {
	ctx := context.Background()
	c := newCopyPair(t, "atkrlsnb")
	// An admin that is no superuser: a member of the app roles, as the
	// provisioner makes it.
	a := admin(t)
	execAll(t, a,
		"CREATE ROLE copy_admin LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE PASSWORD 'copy-admin-pw'",
		"GRANT CONNECT ON DATABASE postgres TO copy_admin",
		"GRANT "+naming.QuoteIdentifier(c.parent.AppRole)+", "+naming.QuoteIdentifier(c.preview.AppRole)+" TO copy_admin")
	u := strings.Replace(pg.URL(), "postgres:"+pg.Password+"@", "copy_admin:copy-admin-pw@", 1)
	nonSuper, err := database.New(ctx, u, "", database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer nonSuper.Close()
	execAll(t, c.p,
		probeFunction(c.parent.AppRole),
		"CREATE TABLE notes (id int, body text)",
		"INSERT INTO notes VALUES (1, 'public'), (2, 'private')",
		"CREATE POLICY only_probed ON notes USING (probe(id))",
		"ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
		"ALTER TABLE notes FORCE ROW LEVEL SECURITY")
	_, err = c.copyWith(ctx, nonSuper)
	if err != nil && strings.Contains(err.Error(), "probe ran as") {
		t.Fatalf("a policy ran as the admin: %v", err)
	}
	if !errors.Is(err, database.ErrCopyUnsupported) || !strings.Contains(err.Error(), `"notes"`) || !strings.Contains(err.Error(), "row-level security") {
		t.Fatalf("copy: %v, want ErrCopyUnsupported naming table notes and row-level security", err)
	}
	if rels, types := previewObjects(t, c.preview.Schema); rels != 0 || types != 0 {
		t.Errorf("the refused copy left %d relation(s) and %d type(s) in the preview", rels, types)
	}
	// Without row-level security the same admin copies the table.
	execAll(t, c.p, "ALTER TABLE notes NO FORCE ROW LEVEL SECURITY", "ALTER TABLE notes DISABLE ROW LEVEL SECURITY")
	res, err := c.copyWith(ctx, nonSuper)
	if err != nil || res.Tables != 1 || res.Rows != 2 {
		t.Fatalf("the copy without row-level security: %+v, %v; want 1 table, 2 rows", res, err)
	}
}

// The parent's enum and domain types are made again in the preview's
// schema, by the preview's role: the preview cannot use the parent's.
// Other types of the parent's schema (composite, range) are refused,
// naming the table and the column.
func TestCopySchemaRecreatesEnumAndDomainTypesInThePreview(t *testing.T) {
	ctx := context.Background()
	c := newCopyPair(t, "cptypes")
	execAll(t, c.p,
		"CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
		"CREATE DOMAIN positive AS int CONSTRAINT positive_gt0 CHECK (VALUE > 0)",
		"CREATE DOMAIN small AS positive NOT NULL DEFAULT 1 CONSTRAINT small_lt100 CHECK (VALUE < 100)",
		"CREATE DOMAIN code AS varchar(4) COLLATE \"C\"",
		"CREATE TABLE feelings (id int PRIMARY KEY, m mood NOT NULL DEFAULT 'ok', ms mood[], p positive, s small, c code, c2 text COLLATE \"C\" CHECK (c2 <> ''))",
		"INSERT INTO feelings VALUES (1, 'happy', '{sad,happy}', 5, 7, 'ab', 'x'), (2, 'sad', NULL, 1, 99, NULL, NULL)")
	res, err := c.copy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 2 {
		t.Errorf("copied %d rows, want 2", res.Rows)
	}
	var schemas []string
	rows, err := admin(t).Query(ctx, `SELECT DISTINCT n.nspname FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
		JOIN pg_namespace n ON n.oid = ty.typnamespace WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND n.nspname <> 'pg_catalog'`,
		c.preview.Schema+".feelings")
	if err != nil {
		t.Fatal(err)
	}
	if schemas, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(schemas) != 1 || schemas[0] != c.preview.Schema {
		t.Errorf("the copy's column types live in %v, want only %s", schemas, c.preview.Schema)
	}
	pv := connectAs(t, c.preview, c.previewPW)
	var got string
	if err := pv.QueryRow(ctx, "SELECT string_agg(m::text || ':' || coalesce(ms::text, '-') || ':' || p || ':' || s, ' ' ORDER BY m) FROM feelings").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "sad:-:1:99 happy:{sad,happy}:5:7" {
		t.Errorf("the copy's rows in enum order: %q", got)
	}
	for stmt, want := range map[string]string{
		"INSERT INTO feelings (id, p) VALUES (3, -1)":      "positive_gt0",
		"INSERT INTO feelings (id, s) VALUES (4, 100)":     "small_lt100",
		"INSERT INTO feelings (id, m) VALUES (5, 'angry')": "invalid input value for enum",
		"INSERT INTO feelings (id, c2) VALUES (6, '')":     "feelings_c2_check",
	} {
		if _, err := pv.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", stmt, err, want)
		}
	}
	var m, s string
	if err := pv.QueryRow(ctx, "INSERT INTO feelings (id) VALUES (7) RETURNING m::text, s::text").Scan(&m, &s); err != nil || m != "ok" || s != "1" {
		t.Errorf("defaults in the copy: %q %q (%v), want ok and 1", m, s, err)
	}

	t.Run("composite type", func(t *testing.T) {
		c := newCopyPair(t, "cpcomp")
		execAll(t, c.p, "CREATE TYPE address AS (street text, city text)", "CREATE TABLE people (id int, home address)")
		_, err := c.copy(ctx)
		if !errors.Is(err, database.ErrCopyUnsupported) || !strings.Contains(err.Error(), `"people"`) || !strings.Contains(err.Error(), `"home"`) {
			t.Fatalf("copy: %v, want ErrCopyUnsupported naming table people and column home", err)
		}
	})
}

// A failure while the rows stream in — here the preview's own function,
// which a generated column calls, raises at row 15000 — ends both sides:
// the preview's schema is left empty, the admin's connections keep
// working, and the next copy starts afresh.
func TestCopySchemaFailingWhileRowsStreamLeavesThePreviewEmpty(t *testing.T) {
	ctx := context.Background()
	c := newCopyPair(t, "cpmidway")
	fn := func(body string) string {
		return `CREATE FUNCTION checked(v int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN ` + body + ` RETURN true; END $$`
	}
	execAll(t, c.p, fn(""),
		"CREATE TABLE t (id int, pad text, ok boolean GENERATED ALWAYS AS (checked(id)) STORED)",
		"INSERT INTO t (id, pad) SELECT i, repeat('x', 200) FROM generate_series(1, 20000) i")
	pv := connectAs(t, c.preview, c.previewPW)
	execAll(t, pv, fn("IF v = 15000 THEN RAISE EXCEPTION 'row % refused', v; END IF;"))
	_, err := c.copy(ctx)
	if !errors.Is(err, database.ErrCopyUnsupported) || !strings.Contains(err.Error(), `table "t": copying the rows`) || !strings.Contains(err.Error(), "row 15000 refused") {
		t.Fatalf("copy: %v, want ErrCopyUnsupported naming table t and the preview function's error", err)
	}
	if rels, types := previewObjects(t, c.preview.Schema); rels != 0 || types != 0 {
		t.Errorf("the failed copy left %d relation(s) and %d type(s) in the preview", rels, types)
	}
	execAll(t, pv, "CREATE OR REPLACE FUNCTION checked(v int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true'")
	for i := range 3 { // more than once: a broken connection back in the pool would show
		if i > 0 {
			execAll(t, admin(t), "DROP TABLE "+naming.QuoteIdentifier(c.preview.Schema)+".t")
		}
		res, err := c.copy(ctx)
		if err != nil || res.Rows != 20000 {
			t.Fatalf("copy %d after the fix: %+v, %v; want 20000 rows", i+1, res, err)
		}
	}
}
