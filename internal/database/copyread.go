package database

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plattr/plattr/internal/naming"
)

// The admin's side of a copy: it reads the source's catalog and COPYs its
// plain tables out, and nothing else. None of this evaluates the tenant's
// code:
//   - the catalog queries touch pg_catalog only, with search_path =
//     pg_catalog, so no name in them can resolve to a tenant's function or
//     operator; pg_get_expr and friends print stored definitions without
//     evaluating them;
//   - COPY <table> (<columns>) TO STDOUT reads a plain table's heap: no
//     constraint, default, generated column, index or trigger runs on a
//     read, and nothing is planned (the planner folds constant calls of
//     IMMUTABLE functions in index expressions and predicates — a query
//     on the table, even a bare SELECT, would run them). With
//     row_security = off a table whose policies would apply is an error,
//     never a policy evaluated as the admin (and such tables are refused
//     before, by name);
//   - printing values calls the types' output functions; those of base
//     types are C functions only a superuser can create (enums, domains,
//     composites, arrays and ranges print through built-in ones);
//   - a name could be made to mean something else between reading the
//     catalog and reading the data (a table swapped for a view, whose
//     functions would run as the reader): the tables are locked before the
//     snapshot is taken, and a sequence is locked and checked by OID before
//     it is read by name.

// sourceRead is the admin's read transaction on the source.
type sourceRead struct {
	tx     pgx.Tx
	schema string
	tables []string // locked before the snapshot, by name
}

// beginSourceRead opens the REPEATABLE READ, READ ONLY transaction and locks
// schema's tables in it before its snapshot is taken — LOCK takes none —
// so what the snapshot's catalog says about them stays true while they are
// read.
func beginSourceRead(ctx context.Context, conn *pgx.Conn, schema string) (*sourceRead, error) {
	// The tables to lock, from a short transaction of its own.
	var tables []string
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL search_path = pg_catalog"); err != nil {
			return err
		}
		var err error
		tables, err = names(ctx, tx, tablesQuery, schema)
		return err
	})
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	s := &sourceRead{tx: tx, schema: schema, tables: tables}
	// Copying can take longer than the admin connection's default statement
	// timeout; it holds no lock anyone else waits for but a migration's.
	stmts := []string{"SET LOCAL search_path = pg_catalog", "SET LOCAL row_security = off", "SET LOCAL statement_timeout = '15min'"}
	if len(tables) > 0 {
		qualified := make([]string, len(tables))
		for i, t := range tables {
			qualified[i] = q(schema) + "." + q(t)
		}
		stmts = append(stmts, fmt.Sprintf("LOCK TABLE ONLY %s IN ACCESS SHARE MODE", strings.Join(qualified, ", ")))
	}
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			s.close(ctx)
			return nil, fmt.Errorf("%s: %w", firstWords(stmt), err)
		}
	}
	return s, nil
}

func (s *sourceRead) close(ctx context.Context) { _ = s.tx.Rollback(ctx) }

// tablesQuery lists a schema's tables: partitioned tables and their
// partitions are not copied.
const tablesQuery = `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = $1 AND c.relkind = 'r' AND NOT c.relispartition ORDER BY c.relname`

func (s *sourceRead) size(ctx context.Context) (int64, error) {
	var bytes int64
	err := s.tx.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, s.schema).Scan(&bytes)
	return bytes, err
}

// What the target is made of, read from the source. Definitions are
// printed by PostgreSQL with search_path = pg_catalog and rewritten to name
// the target's schema where they named the source's.
type copyDef struct {
	types     []*typeDef // in creation order: what a type uses comes first
	sequences []*sequenceDef
	tables    []*tableDef
	foreign   []constraintDef
}

type tableDef struct {
	oid              uint32
	name             string
	unlogged         bool
	rls, forceRLS    bool
	anonReads        bool
	comment          *string
	columns          []*columnDef
	constraints      []constraintDef // CHECK, then primary key, unique, exclusion
	indexes          []indexDef      // those no constraint owns
	copyOut, copyIn  string          // the COPY statements, rows out of the source, into the target
	generatedColumns []string
}

type columnDef struct {
	name      string
	typ       string // as the target writes it
	collate   string // " COLLATE …" or ""
	notNull   bool
	identity  string // "ALWAYS", "BY DEFAULT" or ""
	idSeq     *sequenceDef
	generated string // the expression of a generated column
	def       string // the default
	comment   *string
}

type constraintDef struct{ table, name, def string }

type indexDef struct{ name, def string }

type sequenceDef struct {
	oid                         uint32
	name                        string
	typ                         string
	start, inc, min, max, cache int64
	cycle                       bool
	last                        int64
	called                      bool
	ownedByTable, ownedByColumn string
}

type typeDef struct {
	name    string // in the target's schema
	enum    []string
	base    string // a domain's
	collate string
	notNull bool
	def     string
	checks  []constraintDef
	usedBy  string // the first column using it, for errors
}

// read reads from's definitions, for to.
func (s *sourceRead) read(ctx context.Context, from, to naming.Database) (*copyDef, error) {
	tx := s.tx
	r := &reader{tx: tx, from: from.Schema, to: to.Schema, types: map[uint32]string{}}
	var super, bypass bool
	if err := tx.QueryRow(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&super, &bypass); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT c.oid, c.relname, c.relpersistence = 'u', c.relrowsecurity, c.relforcerowsecurity,
		c.relrowsecurity AND NOT c.relforcerowsecurity AND pg_has_role(c.relowner, 'USAGE'),
		has_table_privilege($2, c.oid, 'SELECT'), obj_description(c.oid, 'pg_class')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'r' AND NOT c.relispartition ORDER BY c.relname`, from.Schema, from.AnonRole)
	if err != nil {
		return nil, err
	}
	var ownerBypass []bool
	for rows.Next() {
		t := &tableDef{}
		var ob bool
		if err := rows.Scan(&t.oid, &t.name, &t.unlogged, &t.rls, &t.forceRLS, &ob, &t.anonReads, &t.comment); err != nil {
			rows.Close()
			return nil, err
		}
		r.def.tables = append(r.def.tables, t)
		ownerBypass = append(ownerBypass, ob)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The snapshot's tables are the locked ones, or the schema changed
	// (a migration) between listing and locking them.
	listed := make([]string, len(r.def.tables))
	for i, t := range r.def.tables {
		listed[i] = t.name
	}
	if !slices.Equal(listed, s.tables) {
		return nil, fmt.Errorf("the tables of schema %s changed while the copy began (%v, then %v); retrying", from.Schema, s.tables, listed)
	}
	for i, t := range r.def.tables {
		if t.rls && !super && !bypass && !ownerBypass[i] {
			return nil, unsupported("table %s has row-level security, which the operator's database user does not bypass: "+
				"it would read the table through the policies, running their expressions; give that user BYPASSRLS, or turn row-level security off in the parent", q(t.name))
		}
		if err := r.table(ctx, t); err != nil {
			return nil, err
		}
	}
	if err := r.sequences(ctx); err != nil {
		return nil, err
	}
	return &r.def, nil
}

// reader collects one copy's definitions.
type reader struct {
	tx       pgx.Tx
	from, to string
	def      copyDef
	types    map[uint32]string // source type → its name in the target
}

func (r *reader) rewrite(def string) string { return rewriteSchema(def, r.from, r.to) }

func (r *reader) table(ctx context.Context, t *tableDef) error {
	rows, err := r.tx.Query(ctx, `SELECT a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attidentity::text, a.attgenerated::text,
		CASE WHEN a.attcollation <> 0 AND a.attcollation <> ty.typcollation THEN a.attcollation ELSE 0 END,
		coalesce(pg_get_expr(d.adbin, d.adrelid), ''), col_description(a.attrelid, a.attnum),
		coalesce((SELECT dep.objid FROM pg_depend dep WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
			AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'), 0)
		FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, t.oid)
	if err != nil {
		return err
	}
	type raw struct {
		c                 *columnDef
		typ, collation    uint32
		typmod            int32
		identity, genKind string
		expr              string
		idSeq             uint32
	}
	var cols []raw
	for rows.Next() {
		var x raw
		var attnum int16
		x.c = &columnDef{}
		if err := rows.Scan(&attnum, &x.c.name, &x.typ, &x.typmod, &x.c.notNull, &x.identity, &x.genKind, &x.collation, &x.expr, &x.c.comment, &x.idSeq); err != nil {
			rows.Close()
			return err
		}
		cols = append(cols, x)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var out []string
	for _, x := range cols {
		c := x.c
		where := fmt.Sprintf("table %s, column %s", q(t.name), q(c.name))
		if c.typ, err = r.typeName(ctx, x.typ, x.typmod, where); err != nil {
			return err
		}
		if x.collation != 0 {
			if c.collate, err = r.collation(ctx, x.collation, where); err != nil {
				return err
			}
		}
		switch x.identity {
		case "a":
			c.identity = "ALWAYS"
		case "d":
			c.identity = "BY DEFAULT"
		}
		if c.identity != "" && x.idSeq != 0 {
			if c.idSeq, err = r.sequence(ctx, x.idSeq); err != nil {
				return err
			}
		}
		if x.genKind != "" {
			c.generated = r.rewrite(x.expr)
			t.generatedColumns = append(t.generatedColumns, c.name)
		} else {
			c.def = r.rewrite(x.expr)
			out = append(out, c.name)
		}
		t.columns = append(t.columns, c)
	}
	// COPY of a table, not of a query: it scans the table's heap without
	// planning, and the planner would evaluate the tenant's functions — it
	// folds an index's constant subexpressions (WHERE f(0), declared
	// IMMUTABLE) when it first looks at the table's indexes. It copies that
	// table's rows only, not those of inheritance children (copied as
	// tables of their own), and refuses a view.
	list := ""
	if len(out) > 0 { // a table without columns still has rows
		list = " (" + quoteAll(out) + ")"
	}
	t.copyOut = fmt.Sprintf("COPY %s.%s%s TO STDOUT", q(r.from), q(t.name), list)
	t.copyIn = fmt.Sprintf("COPY %s.%s%s FROM STDIN", q(r.to), q(t.name), list)

	rows, err = r.tx.Query(ctx, `SELECT conname, contype::text, pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = $1 AND contype IN ('c', 'p', 'u', 'x', 'f')
		ORDER BY CASE contype WHEN 'c' THEN 0 WHEN 'f' THEN 2 ELSE 1 END, conname`, t.oid)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k constraintDef
		var kind string
		if err := rows.Scan(&k.name, &kind, &k.def); err != nil {
			rows.Close()
			return err
		}
		k.table, k.def = t.name, r.rewrite(k.def)
		if kind == "f" {
			r.def.foreign = append(r.def.foreign, k)
		} else {
			t.constraints = append(t.constraints, k)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}

	rows, err = r.tx.Query(ctx, `SELECT ic.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
		WHERE i.indrelid = $1 AND i.indisvalid AND i.indisready AND i.indislive
		AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
		ORDER BY ic.relname`, t.oid)
	if err != nil {
		return err
	}
	for rows.Next() {
		var ix indexDef
		if err := rows.Scan(&ix.name, &ix.def); err != nil {
			rows.Close()
			return err
		}
		ix.def = r.rewrite(ix.def)
		t.indexes = append(t.indexes, ix)
	}
	return rows.Err()
}

// typeName is how the target writes a column's type. Types of other
// schemas (pg_catalog's, an extension's) are used as they are — the
// target's role needs USAGE on them, like any app. The source schema's
// enums and domains are made again in the target's schema; its arrays of
// them become arrays of those. Any other type of the source's schema — a
// composite or range type, a table's row type — is refused: it would need
// more of the source's definitions than a copy brings.
func (r *reader) typeName(ctx context.Context, oid uint32, typmod int32, where string) (string, error) {
	if name, ok := r.types[oid]; ok {
		return name, nil
	}
	var (
		name, schema, kind, category, formatted, def string
		elem, base, collation, baseCollation         uint32
		baseTypmod                                   int32
		notNull                                      bool
	)
	err := r.tx.QueryRow(ctx, `SELECT t.typname, n.nspname, t.typtype::text, t.typcategory::text, format_type(t.oid, $2), t.typelem,
		t.typbasetype, t.typtypmod, t.typnotnull, coalesce(pg_get_expr(t.typdefaultbin, 0), ''), t.typcollation, coalesce(bt.typcollation, 0)
		FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
		WHERE t.oid = $1`, oid, typmod).Scan(&name, &schema, &kind, &category, &formatted, &elem, &base, &baseTypmod, &notNull, &def, &collation, &baseCollation)
	if err != nil {
		return "", fmt.Errorf("%s: reading its type: %w", where, err)
	}
	if schema != r.from {
		return formatted, nil
	}
	target := q(r.to) + "." + q(name)
	switch {
	case category == "A" && elem != 0:
		e, err := r.typeName(ctx, elem, typmod, where)
		if err != nil {
			return "", err
		}
		r.types[oid] = e + "[]"
		return e + "[]", nil
	case kind == "e":
		labels, err := names(ctx, r.tx, "SELECT enumlabel FROM pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder", oid)
		if err != nil {
			return "", err
		}
		r.def.types = append(r.def.types, &typeDef{name: target, enum: labels, usedBy: where})
	case kind == "d":
		baseName, err := r.typeName(ctx, base, baseTypmod, where)
		if err != nil {
			return "", err
		}
		d := &typeDef{name: target, base: baseName, notNull: notNull, def: r.rewrite(def), usedBy: where}
		if collation != 0 && collation != baseCollation {
			if d.collate, err = r.collation(ctx, collation, where); err != nil {
				return "", err
			}
		}
		rows, err := r.tx.Query(ctx, `SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
			WHERE contypid = $1 AND contype = 'c' ORDER BY conname`, oid)
		if err != nil {
			return "", err
		}
		for rows.Next() {
			var k constraintDef
			if err := rows.Scan(&k.name, &k.def); err != nil {
				rows.Close()
				return "", err
			}
			k.def = r.rewrite(k.def)
			d.checks = append(d.checks, k)
		}
		if err := rows.Err(); err != nil {
			return "", err
		}
		r.def.types = append(r.def.types, d)
	default:
		what := map[string]string{"c": "a composite type", "r": "a range type", "m": "a multirange type", "b": "a base type", "p": "a pseudo-type"}[kind]
		return "", unsupported("%s: its type %s.%s is %s; a copy makes again only the enum and domain types of the parent's schema",
			where, q(r.from), q(name), what)
	}
	r.types[oid] = target
	return target, nil
}

// collation is the COLLATE clause for a collation of another schema; the
// source schema's own collations are not copied.
func (r *reader) collation(ctx context.Context, oid uint32, where string) (string, error) {
	var schema, name string
	if err := r.tx.QueryRow(ctx, `SELECT n.nspname, c.collname FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
		WHERE c.oid = $1`, oid).Scan(&schema, &name); err != nil {
		return "", err
	}
	if schema == r.from {
		return "", unsupported("%s: its collation %s.%s is defined in the parent's schema, and collations are not copied", where, q(schema), q(name))
	}
	return " COLLATE " + q(schema) + "." + q(name), nil
}

// sequences reads the source's sequences that no identity column owns.
func (r *reader) sequences(ctx context.Context) error {
	rows, err := r.tx.Query(ctx, `SELECT c.oid, coalesce(oc.relname, ''), coalesce(oa.attname, '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
			AND d.deptype = 'a' AND d.refobjsubid > 0
		LEFT JOIN pg_class oc ON oc.oid = d.refobjid AND oc.relnamespace = c.relnamespace
		LEFT JOIN pg_attribute oa ON oa.attrelid = oc.oid AND oa.attnum = d.refobjsubid
		WHERE n.nspname = $1 AND c.relkind = 'S'
		AND NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.objid = c.oid AND i.deptype = 'i') ORDER BY c.relname`, r.from)
	if err != nil {
		return err
	}
	type owned struct {
		oid           uint32
		table, column string
	}
	var seqs []owned
	for rows.Next() {
		var o owned
		if err := rows.Scan(&o.oid, &o.table, &o.column); err != nil {
			rows.Close()
			return err
		}
		seqs = append(seqs, o)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, o := range seqs {
		s, err := r.sequence(ctx, o.oid)
		if err != nil {
			return err
		}
		s.ownedByTable, s.ownedByColumn = o.table, o.column
		r.def.sequences = append(r.def.sequences, s)
	}
	return nil
}

// sequence reads a sequence's options and position. Sequences cannot be
// locked with LOCK TABLE, and reading one by name would run a view's code
// had the name been given to a view since the snapshot: so it is first
// locked and checked by OID (pg_sequence_last_value refuses anything but a
// sequence), its current name read, and only then read by that name.
func (r *reader) sequence(ctx context.Context, oid uint32) (*sequenceDef, error) {
	s := &sequenceDef{oid: oid}
	var current string
	if err := r.tx.QueryRow(ctx, `SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle
		FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid WHERE c.oid = $1`, oid).Scan(
		&s.name, &s.typ, &s.start, &s.inc, &s.min, &s.max, &s.cache, &s.cycle); err != nil {
		return nil, fmt.Errorf("sequence %d: %w", oid, err)
	}
	if _, err := r.tx.Exec(ctx, "SELECT pg_sequence_last_value($1::oid::regclass)", oid); err != nil {
		return nil, fmt.Errorf("sequence %s: %w", q(s.name), err)
	}
	if err := r.tx.QueryRow(ctx, "SELECT $1::oid::regclass::text", oid).Scan(&current); err != nil {
		return nil, fmt.Errorf("sequence %s: %w", q(s.name), err)
	}
	if err := r.tx.QueryRow(ctx, "SELECT last_value, is_called FROM "+current).Scan(&s.last, &s.called); err != nil {
		return nil, fmt.Errorf("sequence %s: %w", q(s.name), err)
	}
	return s, nil
}
