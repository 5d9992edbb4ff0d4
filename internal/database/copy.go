package database

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plattr/plattr/internal/naming"
)

// ErrCopyTooLarge: the source schema is larger than the copy may be.
var ErrCopyTooLarge = errors.New("the schema is larger than the copy limit")

// ErrCopyTargetNotEmpty: the target schema has tables already — copied
// before, or created by the app — so nothing is copied.
var ErrCopyTargetNotEmpty = errors.New("the target schema already has tables")

// CopyResult says what a copy did.
type CopyResult struct {
	Tables int
	Rows   int64
	Bytes  int64 // the source's size on disk, tables and indexes
}

// CopySchema copies from's tables — columns, defaults, constraints,
// indexes, identity, rows — its sequences with their positions and its
// foreign keys into to's empty schema, owned by to's app role; to's anon
// role may read what from's anon role may read. Views, functions, triggers
// and policies are not copied. It runs in one transaction on a consistent
// snapshot of from: a failure leaves to empty, so a retry starts afresh.
// A source larger than maxBytes is refused before anything is written.
func (p *Provisioner) CopySchema(ctx context.Context, from, to naming.Database, maxBytes int64) (CopyResult, error) {
	var res CopyResult
	err := pgx.BeginTxFunc(ctx, p.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		// Copying can take longer than the admin connection's default
		// statement timeout; it holds no lock anyone else waits for.
		// Names are printed schema-qualified (search_path pg_catalog).
		for _, s := range []string{"SET LOCAL statement_timeout = '15min'", "SET LOCAL search_path = pg_catalog"} {
			if _, err := tx.Exec(ctx, s); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, from.Schema).Scan(&res.Bytes); err != nil {
			return err
		}
		if res.Bytes > maxBytes {
			return fmt.Errorf("%w: schema %s takes %d bytes, the limit is %d", ErrCopyTooLarge, from.Schema, res.Bytes, maxBytes)
		}
		var existing int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, to.Schema).Scan(&existing); err != nil {
			return err
		}
		if existing > 0 {
			return fmt.Errorf("%w: schema %s has %d", ErrCopyTargetNotEmpty, to.Schema, existing)
		}
		tables, err := names(ctx, tx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relkind = 'r' AND NOT c.relispartition ORDER BY c.relname`, from.Schema)
		if err != nil {
			return err
		}
		for _, t := range tables {
			rows, err := copyTable(ctx, tx, from, to, t)
			if err != nil {
				return fmt.Errorf("table %s: %w", t, err)
			}
			res.Tables++
			res.Rows += rows
		}
		if err := copySequences(ctx, tx, from, to); err != nil {
			return err
		}
		return copyForeignKeys(ctx, tx, from, to)
	})
	return res, err
}

// copyTable creates to.t like from.t, fills it and hands it to to's roles.
func copyTable(ctx context.Context, tx pgx.Tx, from, to naming.Database, table string) (int64, error) {
	src, dst := q(from.Schema)+"."+q(table), q(to.Schema)+"."+q(table)
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL)", dst, src)); err != nil {
		return 0, err
	}
	cols, err := names(ctx, tx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass
		AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`, src)
	if err != nil {
		return 0, err
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = q(c)
	}
	list := strings.Join(quoted, ", ")
	tag, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s", dst, list, list, src))
	if err != nil {
		return 0, err
	}
	// Identity columns got sequences of their own: continue after the rows.
	identity, err := names(ctx, tx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attidentity <> ''`, dst)
	if err != nil {
		return 0, err
	}
	for _, c := range identity {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max(%s), 1), max(%s) IS NOT NULL) FROM %s`,
			literal(dst), literal(c), q(c), q(c), dst)); err != nil {
			return 0, err
		}
	}
	stmts := []string{fmt.Sprintf("ALTER TABLE %s OWNER TO %s", dst, q(to.AppRole))}
	var anonReads bool
	if err := tx.QueryRow(ctx, "SELECT has_table_privilege($1, $2, 'SELECT')", from.AnonRole, src).Scan(&anonReads); err != nil {
		return 0, err
	}
	if anonReads {
		stmts = append(stmts, fmt.Sprintf("GRANT SELECT ON %s TO %s", dst, q(to.AnonRole)))
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return 0, err
		}
	}
	return tag.RowsAffected(), nil
}

// copySequences copies from's sequences that no identity column owns, at
// their current position, and points to's column defaults at the copies.
func copySequences(ctx context.Context, tx pgx.Tx, from, to naming.Database) error {
	seqs, err := names(ctx, tx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'S'
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'i') ORDER BY c.relname`, from.Schema)
	if err != nil {
		return err
	}
	for _, s := range seqs {
		src, dst := q(from.Schema)+"."+q(s), q(to.Schema)+"."+q(s)
		for _, stmt := range []string{
			fmt.Sprintf("CREATE SEQUENCE %s", dst),
			fmt.Sprintf("SELECT setval(%s, last_value, is_called) FROM %s", literal(dst), src),
			fmt.Sprintf("ALTER SEQUENCE %s OWNER TO %s", dst, q(to.AppRole)),
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("sequence %s: %w", s, err)
			}
		}
	}
	// LIKE copied the defaults as they were: nextval of from's sequences.
	rows, err := tx.Query(ctx, `SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid)
		FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
		WHERE n.nspname = $1 AND pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%'`, to.Schema)
	if err != nil {
		return err
	}
	type fix struct{ table, column, def string }
	var fixes []fix
	for rows.Next() {
		var f fix
		if err := rows.Scan(&f.table, &f.column, &f.def); err != nil {
			return err
		}
		fixes = append(fixes, f)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range fixes {
		def := strings.ReplaceAll(f.def, "nextval('"+from.Schema+".", "nextval('"+to.Schema+".")
		if def == f.def {
			continue
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s ALTER COLUMN %s SET DEFAULT %s", q(to.Schema), q(f.table), q(f.column), def)); err != nil {
			return fmt.Errorf("default of %s.%s: %w", f.table, f.column, err)
		}
	}
	return nil
}

// copyForeignKeys adds from's foreign keys to to's tables, referencing
// to's tables where from's referenced its own.
func copyForeignKeys(ctx context.Context, tx pgx.Tx, from, to naming.Database) error {
	// With from's schema on the search path its own tables print unqualified.
	if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+q(from.Schema)); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
		FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND k.contype = 'f' ORDER BY c.relname, k.conname`, from.Schema)
	if err != nil {
		return err
	}
	type fk struct{ table, name, def string }
	var fks []fk
	for rows.Next() {
		var f fk
		if err := rows.Scan(&f.table, &f.name, &f.def); err != nil {
			return err
		}
		fks = append(fks, f)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL search_path = "+q(to.Schema)); err != nil {
		return err
	}
	for _, f := range fks {
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", q(f.table), q(f.name), f.def)); err != nil {
			return fmt.Errorf("foreign key %s of %s: %w", f.name, f.table, err)
		}
	}
	return nil
}

func names(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
