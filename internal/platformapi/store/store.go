// Package store is the platform API's PostgreSQL data: users, tokens,
// sessions, roles, tasks and the change feed, in a schema of its own
// (plattr_api) whose versioned migrations run at start.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// Schema holds every table of the platform API.
const Schema = "plattr_api"

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound means no row matched.
var ErrNotFound = errors.New("not found")

// Store is the platform API's database.
type Store struct {
	Pool *pgxpool.Pool
	url  string
}

// Open connects to the database at url, creates the schema if needed and
// runs the migrations not yet applied. Replicas starting together take
// turns: the migrator holds an advisory lock.
func Open(ctx context.Context, url string, maxConns int32) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("DATABASE_URL is not a PostgreSQL URL: want postgres://user:password@host:5432/db")
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = Schema
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	if err := migrateSchema(ctx, cfg.ConnConfig.Copy()); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Store{Pool: pool, url: url}, nil
}

func migrateSchema(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting to the API's database: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{Schema}.Sanitize()); err != nil {
		return fmt.Errorf("creating schema %s: %w", Schema, err)
	}
	m, err := migrate.NewMigrator(ctx, conn, pgx.Identifier{Schema, "schema_version"}.Sanitize())
	if err != nil {
		return err
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return err
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating schema %s: %w", Schema, err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() { s.Pool.Close() }

// Ping checks the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.Pool.Ping(ctx) }

// Version is the applied migration version.
func (s *Store) Version(ctx context.Context) (int32, error) {
	var v int32
	err := s.Pool.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&v)
	return v, err
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// appKeys runs a query returning (namespace, name) rows.
func (s *Store) appKeys(ctx context.Context, query string) ([]AppKey, error) {
	rows, err := s.Pool.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AppKey
	for rows.Next() {
		var k AppKey
		if err := rows.Scan(&k.Namespace, &k.Name); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
