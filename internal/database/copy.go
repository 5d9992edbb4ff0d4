package database

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/naming"
)

// ErrCopyTooLarge: the source schema is larger than the copy may be.
var ErrCopyTooLarge = errors.New("the schema is larger than the copy limit")

// ErrCopyTargetNotEmpty: the target schema has tables already — copied
// before, or created by the app — so nothing is copied.
var ErrCopyTargetNotEmpty = errors.New("the target schema already has tables")

// ErrCopyUnsupported: the source schema holds something the copy cannot
// bring over as it is — a constraint, default, generated column, index or
// domain calling a function the target's role may not run, a table with
// row-level security the admin does not bypass, a column of a composite or
// range type of the source's schema. Copying again will fail the same way
// until the source changes; the error names the table and the object.
var ErrCopyUnsupported = errors.New("cannot be copied as it is")

// CopyResult says what a copy did.
type CopyResult struct {
	Tables int
	Rows   int64
	Bytes  int64 // the source's size on disk, tables and indexes
}

// CopySchema copies from's tables — columns, defaults, constraints,
// indexes, identity, rows —, the enum and domain types they use, its
// sequences with their positions and its foreign keys into to's empty
// schema; to's anon role may read what from's anon role may read. Views,
// functions, triggers and policies are not copied; a table with row-level
// security keeps it on, with no policy. A source larger than maxBytes is
// refused before anything is written.
//
// Everything in from's schema is the tenant's code, and the admin runs
// none of it: as the admin the copy only reads the catalog and COPYs plain
// tables out (copyread.go), which evaluates no constraint, default, index
// or policy. Everything that evaluates expressions — creating the types,
// tables, constraints and indexes, the COPY in — runs on a connection
// logged in as to's app role with toPassword (copywrite.go): with the
// role's rights only, so a constraint calling a function that role may not
// run fails the copy (ErrCopyUnsupported, naming the table and the
// constraint). Not SET ROLE from the admin's session: code running under
// SET ROLE can RESET ROLE back to the session's user.
//
// The read is one REPEATABLE READ snapshot of from, its tables locked
// before the snapshot is taken; the write is one transaction: a failure
// leaves to empty, so a retry starts afresh.
func (p *Provisioner) CopySchema(ctx context.Context, from, to naming.Database, toPassword string, maxBytes int64) (CopyResult, error) {
	defer metrics.TimeCall(metrics.BackendDatabase, "copy_schema")()
	var res CopyResult
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return res, p.noteAuth(err)
	}
	defer conn.Release()
	src, err := beginSourceRead(ctx, conn.Conn(), from.Schema)
	if err != nil {
		return res, err
	}
	defer src.close(ctx)
	if res.Bytes, err = src.size(ctx); err != nil {
		return res, err
	}
	if res.Bytes > maxBytes {
		return res, fmt.Errorf("%w: schema %s takes %d bytes, the limit is %d", ErrCopyTooLarge, from.Schema, res.Bytes, maxBytes)
	}

	dst, err := p.beginTargetWrite(ctx, to, toPassword)
	if err != nil {
		return res, err
	}
	defer dst.close(ctx)

	def, err := src.read(ctx, from, to)
	if err != nil {
		return res, err
	}
	res.Tables = len(def.tables)
	if res.Rows, err = dst.write(ctx, def, src); err != nil {
		return res, err
	}
	return res, dst.commit(ctx)
}

// errTargetStopped ends the source's side of a pipe whose target stopped.
var errTargetStopped = errors.New("the copy into the target stopped")

// pipeRows streams one table's rows from the source's COPY … TO STDOUT into
// the target's COPY … FROM STDIN. A failure on either side ends both, and
// is returned as that side's.
func pipeRows(ctx context.Context, src, dst *pgconn.PgConn, out, in string) (rows int64, readErr, writeErr error) {
	pr, pw := io.Pipe()
	read := make(chan error, 1)
	go func() {
		_, err := src.CopyTo(ctx, pw, out)
		_ = pw.CloseWithError(err) // nil: the target reads to the end
		read <- err
	}()
	tag, writeErr := dst.CopyFrom(ctx, pr, in)
	// Should the target have stopped early, the source's writes fail
	// rather than block for ever (and end its connection).
	_ = pr.CloseWithError(errTargetStopped)
	if readErr = <-read; readErr != nil && !errors.Is(readErr, errTargetStopped) {
		return 0, readErr, nil // the target failed, if it did, because of it
	}
	return tag.RowsAffected(), nil, writeErr
}

// definitionErr names what failed on the target. An error that comes from
// the definition itself — a function that does not exist or may not run,
// a permission, a value the constraint refuses, an exception the tenant's
// code raised — is ErrCopyUnsupported: retrying the same source fails the
// same way. Others (a timeout, a lost connection) are worth a retry.
func definitionErr(what string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && slices.Contains([]string{"0A", "22", "23", "2B", "2F", "38", "39", "42", "44", "P0"}, pgErr.Code[:2]) {
		return fmt.Errorf("%w: %s: %w", ErrCopyUnsupported, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCopyUnsupported, fmt.Sprintf(format, args...))
}

func names(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func quoteAll(ids []string) string {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = q(id)
	}
	return strings.Join(quoted, ", ")
}
