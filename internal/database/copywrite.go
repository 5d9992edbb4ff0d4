package database

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plattr/plattr/internal/naming"
)

// The target's side of a copy: one transaction on a connection logged in
// as the target's app role, which owns the target's schema. Everything
// that evaluates the source's expressions — domain and table constraints,
// defaults, generated columns, index expressions and predicates — runs
// here, with that role's rights and nothing more: the session's user is
// the role itself, so no code can RESET ROLE its way to the admin.

type targetWrite struct {
	conn   *pgx.Conn
	tx     pgx.Tx
	schema string
	anon   string
}

// beginTargetWrite logs in as n's app role with password and begins the
// transaction; a schema with tables already is ErrCopyTargetNotEmpty.
func (p *Provisioner) beginTargetWrite(ctx context.Context, n naming.Database, password string) (*targetWrite, error) {
	cfg, err := pgx.ParseConfig(p.Connection(n, password).URL)
	if err != nil {
		return nil, errors.New("building the target role's connection settings failed")
	}
	cfg.Host = p.adminHost // where the operator reaches the server
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("logging in as %s to write the copy: %w", n.AppRole, err)
	}
	w := &targetWrite{conn: conn, schema: n.Schema, anon: n.AnonRole}
	if w.tx, err = conn.Begin(ctx); err != nil {
		w.close(ctx)
		return nil, err
	}
	// Names are written schema-qualified, as the source's definitions
	// were printed: with search_path = pg_catalog.
	for _, s := range []string{"SET LOCAL search_path = pg_catalog", "SET LOCAL statement_timeout = '15min'"} {
		if _, err := w.tx.Exec(ctx, s); err != nil {
			w.close(ctx)
			return nil, err
		}
	}
	var existing int
	if err := w.tx.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, n.Schema).Scan(&existing); err != nil {
		w.close(ctx)
		return nil, err
	}
	if existing > 0 {
		w.close(ctx)
		return nil, fmt.Errorf("%w: schema %s has %d", ErrCopyTargetNotEmpty, n.Schema, existing)
	}
	return w, nil
}

func (w *targetWrite) close(ctx context.Context) {
	_ = w.tx.Rollback(ctx)
	_ = w.conn.Close(ctx)
}

func (w *targetWrite) commit(ctx context.Context) error { return w.tx.Commit(ctx) }

func (w *targetWrite) exec(ctx context.Context, what, stmt string, args ...any) error {
	if _, err := w.tx.Exec(ctx, stmt, args...); err != nil {
		return definitionErr(what, err)
	}
	return nil
}

func (w *targetWrite) table(name string) string { return q(w.schema) + "." + q(name) }

// write makes def in the target and fills it from src, in the order a
// restore would: types, sequences, bare tables, rows, then what checks
// or indexes the rows (so each is evaluated once, over all of them).
func (w *targetWrite) write(ctx context.Context, def *copyDef, src *sourceRead) (int64, error) {
	for _, t := range def.types {
		if err := w.createType(ctx, t); err != nil {
			return 0, err
		}
	}
	for _, s := range def.sequences {
		what := "sequence " + q(s.name)
		if err := w.exec(ctx, what, fmt.Sprintf("CREATE SEQUENCE %s AS %s %s", w.table(s.name), s.typ, s.options())); err != nil {
			return 0, err
		}
		if err := w.exec(ctx, what, "SELECT setval($1::regclass, $2, $3)", w.table(s.name), s.last, s.called); err != nil {
			return 0, err
		}
	}
	var rows int64
	for _, t := range def.tables {
		n, err := w.createTable(ctx, t, src)
		if err != nil {
			return 0, err
		}
		rows += n
	}
	for _, t := range def.types {
		for _, k := range t.checks {
			if err := w.exec(ctx, fmt.Sprintf("domain %s (%s), constraint %s", t.name, t.usedBy, q(k.name)),
				fmt.Sprintf("ALTER DOMAIN %s ADD CONSTRAINT %s %s", t.name, q(k.name), k.def)); err != nil {
				return 0, err
			}
		}
	}
	for _, t := range def.tables {
		for _, k := range t.constraints {
			if err := w.exec(ctx, fmt.Sprintf("table %s, constraint %s", q(t.name), q(k.name)),
				fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", w.table(t.name), q(k.name), k.def)); err != nil {
				return 0, err
			}
		}
		for _, ix := range t.indexes {
			if err := w.exec(ctx, fmt.Sprintf("table %s, index %s", q(t.name), q(ix.name)), ix.def); err != nil {
				return 0, err
			}
		}
	}
	for _, k := range def.foreign {
		if err := w.exec(ctx, fmt.Sprintf("table %s, foreign key %s", q(k.table), q(k.name)),
			fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", w.table(k.table), q(k.name), k.def)); err != nil {
			return 0, err
		}
	}
	copied := map[string]bool{}
	for _, t := range def.tables {
		copied[t.name] = true
	}
	for _, s := range def.sequences {
		if s.ownedByTable != "" && copied[s.ownedByTable] {
			if err := w.exec(ctx, "sequence "+q(s.name), fmt.Sprintf("ALTER SEQUENCE %s OWNED BY %s.%s",
				w.table(s.name), w.table(s.ownedByTable), q(s.ownedByColumn))); err != nil {
				return 0, err
			}
		}
	}
	for _, t := range def.tables {
		if err := w.finishTable(ctx, t); err != nil {
			return 0, err
		}
	}
	return rows, nil
}

func (w *targetWrite) createType(ctx context.Context, t *typeDef) error {
	what := "type " + t.name + " (" + t.usedBy + ")"
	if t.enum != nil {
		labels := make([]string, len(t.enum))
		for i, l := range t.enum {
			labels[i] = literal(l)
		}
		return w.exec(ctx, what, fmt.Sprintf("CREATE TYPE %s AS ENUM (%s)", t.name, strings.Join(labels, ", ")))
	}
	// The domain's checks come after the rows, like the tables' own.
	stmt := fmt.Sprintf("CREATE DOMAIN %s AS %s%s", t.name, t.base, t.collate)
	if t.def != "" {
		stmt += " DEFAULT " + t.def
	}
	if t.notNull {
		stmt += " NOT NULL"
	}
	return w.exec(ctx, "domain "+t.name+" ("+t.usedBy+")", stmt)
}

// createTable makes t with its columns — types, collations, NOT NULL,
// identity, generated expressions, which must be there before the rows
// — and copies its rows in.
func (w *targetWrite) createTable(ctx context.Context, t *tableDef, src *sourceRead) (int64, error) {
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		col := q(c.name) + " " + c.typ + c.collate
		switch {
		case c.identity != "":
			col += " GENERATED " + c.identity + " AS IDENTITY"
			if c.idSeq != nil {
				col += " (" + c.idSeq.options() + ")"
			}
		case c.generated != "":
			col += " GENERATED ALWAYS AS (" + c.generated + ") STORED"
		}
		if c.notNull {
			col += " NOT NULL"
		}
		cols[i] = col
	}
	what := "table " + q(t.name)
	if len(t.generatedColumns) > 0 {
		what += fmt.Sprintf(" (generated column %s)", quoteAll(t.generatedColumns))
	}
	create := "CREATE TABLE"
	if t.unlogged {
		create = "CREATE UNLOGGED TABLE"
	}
	if err := w.exec(ctx, what, fmt.Sprintf("%s %s (%s)", create, w.table(t.name), strings.Join(cols, ", "))); err != nil {
		return 0, err
	}

	rows, readErr, writeErr := pipeRows(ctx, src.tx.Conn().PgConn(), w.conn.PgConn(), t.copyOut, t.copyIn)
	switch {
	case readErr != nil:
		return 0, fmt.Errorf("table %s: reading the rows: %w", q(t.name), readErr)
	case writeErr != nil:
		return 0, definitionErr("table "+q(t.name)+": copying the rows", writeErr)
	}

	for _, c := range t.columns {
		if c.idSeq != nil {
			if err := w.exec(ctx, fmt.Sprintf("table %s, column %s", q(t.name), q(c.name)),
				"SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)", w.table(t.name), c.name, c.idSeq.last, c.idSeq.called); err != nil {
				return 0, err
			}
		}
		if c.def != "" {
			if err := w.exec(ctx, fmt.Sprintf("table %s, column %s default", q(t.name), q(c.name)),
				fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", w.table(t.name), q(c.name), c.def)); err != nil {
				return 0, err
			}
		}
	}
	return rows, nil
}

// finishTable sets what does not touch the rows: row-level security as
// the source has it (its policies are not copied, so until the app makes
// them nobody they applied to reads a row), the anon role's SELECT as the
// source's anon role has it (the schema's default privileges grant it to
// every new table), comments.
func (w *targetWrite) finishTable(ctx context.Context, t *tableDef) error {
	dst := w.table(t.name)
	var stmts []string
	if t.rls {
		stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", dst))
	}
	if t.forceRLS {
		stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", dst))
	}
	if t.anonReads {
		stmts = append(stmts, fmt.Sprintf("GRANT SELECT ON %s TO %s", dst, q(w.anon)))
	} else {
		stmts = append(stmts, fmt.Sprintf("REVOKE SELECT ON %s FROM %s", dst, q(w.anon)))
	}
	if t.comment != nil {
		stmts = append(stmts, fmt.Sprintf("COMMENT ON TABLE %s IS %s", dst, literal(*t.comment)))
	}
	for _, c := range t.columns {
		if c.comment != nil {
			stmts = append(stmts, fmt.Sprintf("COMMENT ON COLUMN %s.%s IS %s", dst, q(c.name), literal(*c.comment)))
		}
	}
	for _, s := range stmts {
		if err := w.exec(ctx, "table "+q(t.name), s); err != nil {
			return err
		}
	}
	return nil
}

// options are a sequence's CREATE SEQUENCE options, but its type: an
// identity column's sequence has the column's.
func (s *sequenceDef) options() string {
	cycle := "NO CYCLE"
	if s.cycle {
		cycle = "CYCLE"
	}
	return fmt.Sprintf("INCREMENT BY %d MINVALUE %d MAXVALUE %d START WITH %d CACHE %d %s",
		s.inc, s.min, s.max, s.start, s.cache, cycle)
}
