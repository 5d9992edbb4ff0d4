package database_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

// connectAs logs in as n's app role.
func connectAs(t *testing.T, n naming.Database, password string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), prov.Connection(n, password).URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestCopySchemaCopiesTablesRowsSequencesAndKeysAndIsolatesTheCopy(t *testing.T) {
	ctx := context.Background()
	parent, copy := names("copysrc"), naming.Database{
		Schema: "preview_copysrc_pr1", AppRole: "preview_copysrc_pr1_app", AnonRole: "preview_copysrc_pr1_anon",
	}
	owner := database.Owner{Namespace: "ns", Name: "copysrc"}
	if err := prov.Rotate(ctx, parent, owner, "parent-pw"); err != nil {
		t.Fatal(err)
	}
	if err := prov.Rotate(ctx, copy, database.Owner{Namespace: "preview-copysrc-pr-1", Name: "copysrc"}, "copy-pw"); err != nil {
		t.Fatal(err)
	}
	p := connectAs(t, parent, "parent-pw")
	for _, s := range []string{
		"CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL UNIQUE)",
		"CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer int NOT NULL REFERENCES customers(id), total numeric CHECK (total >= 0), doubled numeric GENERATED ALWAYS AS (total * 2) STORED)",
		"CREATE TABLE secrets (v text)",
		"CREATE SEQUENCE invoice_numbers START 1000",
		"SELECT nextval('invoice_numbers')",
		"INSERT INTO customers (name) VALUES ('ada'), ('grace')",
		"INSERT INTO orders (customer, total) VALUES (1, 10), (2, 20), (2, 5)",
		"REVOKE SELECT ON secrets FROM " + parent.AnonRole,
	} {
		if _, err := p.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}

	res, err := prov.CopySchema(ctx, parent, copy, "copy-pw", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tables != 3 || res.Rows != 5 || res.Bytes == 0 {
		t.Errorf("copied %+v, want 3 tables and 5 rows", res)
	}

	c := connectAs(t, copy, "copy-pw")
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM orders JOIN customers ON customers.id = orders.customer WHERE name = 'grace'").Scan(&n); err != nil || n != 2 {
		t.Fatalf("grace's orders in the copy: %d (%v), want 2", n, err)
	}
	// Sequences continue after the copied rows, in the copy's own schema.
	var id int
	if err := c.QueryRow(ctx, "INSERT INTO customers (name) VALUES ('linus') RETURNING id").Scan(&id); err != nil || id != 3 {
		t.Errorf("next customer id %d (%v), want 3", id, err)
	}
	if err := c.QueryRow(ctx, "INSERT INTO orders (customer, total) VALUES (3, 1) RETURNING id").Scan(&id); err != nil || id != 4 {
		t.Errorf("next order id %d (%v), want 4", id, err)
	}
	if err := c.QueryRow(ctx, "SELECT nextval('invoice_numbers')").Scan(&id); err != nil || id != 1001 {
		t.Errorf("invoice_numbers continues at %d (%v), want 1001", id, err)
	}
	// Constraints came along.
	if _, err := c.Exec(ctx, "INSERT INTO orders (customer, total) VALUES (99, 1)"); err == nil || !strings.Contains(err.Error(), "foreign key") {
		t.Errorf("the copy's foreign key does not hold: %v", err)
	}
	if _, err := c.Exec(ctx, "INSERT INTO orders (customer, total) VALUES (1, -1)"); err == nil {
		t.Error("the copy's check constraint does not hold")
	}
	// Writes in the copy never reach the parent; the parent's sequence did not move.
	if err := p.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 2 {
		t.Errorf("the parent has %d customers (%v), want 2", n, err)
	}
	if err := p.QueryRow(ctx, "SELECT last_value FROM customers_id_seq").Scan(&n); err != nil || n != 2 {
		t.Errorf("the parent's sequence is at %d (%v), want 2", n, err)
	}
	// The copy's anon role reads what the parent's could, nothing more.
	var reads, hidden bool
	if err := admin(t).QueryRow(ctx, "SELECT has_table_privilege($1, 'preview_copysrc_pr1.customers', 'SELECT'), has_table_privilege($1, 'preview_copysrc_pr1.secrets', 'SELECT')",
		copy.AnonRole).Scan(&reads, &hidden); err != nil {
		t.Fatal(err)
	}
	if !reads || hidden {
		t.Errorf("anon reads customers %v (want true), secrets %v (want false)", reads, hidden)
	}
	// The copy cannot see the parent.
	if _, err := c.Exec(ctx, "SELECT * FROM staging_copysrc.customers"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("the copy read the parent: %v", err)
	}

	// Once only: a second copy finds tables and writes nothing.
	if _, err := prov.CopySchema(ctx, parent, copy, "copy-pw", 1<<30); !errors.Is(err, database.ErrCopyTargetNotEmpty) {
		t.Errorf("a second copy: %v, want ErrCopyTargetNotEmpty", err)
	}
}

func TestCopySchemaRefusesASchemaOverTheLimitBeforeWriting(t *testing.T) {
	ctx := context.Background()
	parent, copy := names("copybig"), naming.Database{Schema: "preview_copybig_pr1", AppRole: "preview_copybig_pr1_app", AnonRole: "preview_copybig_pr1_anon"}
	if err := prov.Rotate(ctx, parent, database.Owner{Namespace: "ns", Name: "copybig"}, "pw"); err != nil {
		t.Fatal(err)
	}
	if err := prov.Rotate(ctx, copy, database.Owner{Namespace: "preview-copybig-pr-1", Name: "copybig"}, "pw2"); err != nil {
		t.Fatal(err)
	}
	if _, err := connectAs(t, parent, "pw").Exec(ctx, "CREATE TABLE blobs AS SELECT repeat('x', 1000) AS b FROM generate_series(1, 1000)"); err != nil {
		t.Fatal(err)
	}
	_, err := prov.CopySchema(ctx, parent, copy, "pw2", 1024)
	if !errors.Is(err, database.ErrCopyTooLarge) {
		t.Fatalf("err %v, want ErrCopyTooLarge", err)
	}
	var tables int
	if err := admin(t).QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = $1", copy.Schema).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("%d tables written (%v) before the refusal", tables, err)
	}
}
