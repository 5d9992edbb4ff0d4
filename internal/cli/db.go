package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
)

// migrationsTable records, in the app's own schema, which migration files
// ran.
const migrationsTable = "plattr_schema_migrations"

func newDBCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Reach the app's database: its URL, a psql shell, migrations and seed data",
		Example: `  plattr db url
  plattr db shell
  plattr db migrate            # db/migrations/*.sql, in order, each once
  plattr db seed               # db/seed.sql`,
	}
	var tf targetFlags
	url := &cobra.Command{
		Use:     "url [app]",
		Short:   "Print the app's DATABASE_URL (it holds the password: keep it out of logs)",
		Example: "  plattr db url\n  psql \"$(plattr db url --env staging)\"",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, _, err := appDatabase(cmd, g, &tf, args)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), u)
			return nil
		},
	}
	tf.add(url)
	var stf targetFlags
	shell := &cobra.Command{
		Use:     "shell [app]",
		Short:   "Open psql on the app's database, as the app",
		Example: "  plattr db shell\n  plattr db shell --env preview --pr 42",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, _, err := appDatabase(cmd, g, &stf, args)
			if err != nil {
				return err
			}
			psql, err := exec.LookPath("psql")
			if err != nil {
				return errors.New("psql is not installed: install the PostgreSQL client (apt-get install postgresql-client), or use `plattr db url`")
			}
			c := exec.CommandContext(cmd.Context(), psql, u)
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return c.Run()
		},
	}
	stf.add(shell)
	var mtf targetFlags
	var dir string
	migrate := &cobra.Command{
		Use:   "migrate [app]",
		Short: "Run the migration files not run yet, in name order, each in its own transaction",
		Long: `Run db/migrations/*.sql in name order (for example 001_users.sql,
002_orders.sql). Each file runs once, in its own transaction, and is recorded
in the table plattr_schema_migrations of the app's schema. The first file that
fails stops the run; it is rolled back and not recorded, so fixing it and
running again continues there.`,
		Example: "  plattr db migrate\n  plattr db migrate --dir sql/migrations --env staging",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, _, err := appDatabase(cmd, g, &mtf, args)
			if err != nil {
				return err
			}
			return migrateDir(cmd.Context(), u, dir, cmd)
		},
	}
	mtf.add(migrate)
	migrate.Flags().StringVar(&dir, "dir", "db/migrations", "directory of the .sql files")
	var setf targetFlags
	var seedFile string
	seed := &cobra.Command{
		Use:     "seed [app]",
		Short:   "Run the seed file in one transaction (make it safe to run twice)",
		Example: "  plattr db seed\n  plattr db seed --file db/demo.sql --env preview --pr 42",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, _, err := appDatabase(cmd, g, &setf, args)
			if err != nil {
				return err
			}
			sql, err := os.ReadFile(seedFile)
			if err != nil {
				return err
			}
			conn, err := pgx.Connect(cmd.Context(), u)
			if err != nil {
				return fmt.Errorf("connecting as the app: %w", err)
			}
			defer conn.Close(context.Background())
			if err := pgx.BeginFunc(cmd.Context(), conn, func(tx pgx.Tx) error {
				_, err := tx.Exec(cmd.Context(), string(sql))
				return err
			}); err != nil {
				return fmt.Errorf("%s: %w (rolled back)", seedFile, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "seeded from %s\n", seedFile)
			return nil
		},
	}
	setf.add(seed)
	seed.Flags().StringVar(&seedFile, "file", "db/seed.sql", "the seed file")
	cmd.AddCommand(url, shell, migrate, seed)
	return cmd
}

func appDatabase(cmd *cobra.Command, g *globals, tf *targetFlags, args []string) (string, target, error) {
	s, t, err := g.target(tf, args)
	if err != nil {
		return "", t, err
	}
	u, err := databaseURL(cmd.Context(), s.c, t.ns, t.app)
	return u, t, err
}

// migrateDir runs the files of dir not recorded yet, in name order.
func migrateDir(ctx context.Context, url, dir string, cmd *cobra.Command) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no .sql files in %s (--dir names another directory)", dir)
	}
	sort.Strings(files)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connecting as the app: %w", err)
	}
	defer conn.Close(context.Background())
	// The app's search_path is its own schema: the table lands there.
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+migrationsTable+" (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"); err != nil {
		return fmt.Errorf("creating %s: %w", migrationsTable, err)
	}
	ran := 0
	for _, f := range files {
		version := filepath.Base(f)
		var done bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+migrationsTable+" WHERE version = $1)", version).Scan(&done); err != nil {
			return err
		}
		if done {
			continue
		}
		sql, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+migrationsTable+" (version) VALUES ($1)", version)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s failed and was rolled back (%d ran before it): %w; fix it and run `plattr db migrate` again", version, ran, err)
		}
		ran++
		fmt.Fprintf(cmd.OutOrStdout(), "  applied %s\n", version)
	}
	if ran == 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "up to date: %d migration(s) ran before\n", len(files))
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "%d migration(s) applied\n", ran)
	}
	return nil
}
