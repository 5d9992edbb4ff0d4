package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/internal/stack"
)

func (g *globals) devStack() (*stack.Dev, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	exe, _ = filepath.EvalSymlinks(exe)
	dir, err := filepath.Abs(g.devDir)
	if err != nil {
		return nil, err
	}
	return &stack.Dev{Dir: dir, BinDir: envOr("PLATTR_BIN_DIR", filepath.Dir(exe))}, nil
}

// withStack adapts a function of the local stack to a cobra RunE.
func (g *globals) withStack(f func(cmd *cobra.Command, d *stack.Dev) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		d, err := g.devStack()
		if err != nil {
			return err
		}
		return f(cmd, d)
	}
}

func newDevCommand(g *globals) *cobra.Command {
	dev := &cobra.Command{
		Use:     "dev",
		Short:   "Run Plattr locally: a Kubernetes control plane, PostgreSQL and the operator",
		Example: "  plattr dev up\n  plattr dev status\n  plattr dev down --purge",
	}
	dev.AddCommand(&cobra.Command{
		Use:     "up",
		Short:   "Start the local stack in the background and wait until it is ready",
		Example: "  plattr dev up && eval \"$(plattr dev env)\"",
		RunE: g.withStack(func(cmd *cobra.Command, d *stack.Dev) error {
			fmt.Fprintf(cmd.OutOrStdout(), "Starting the local stack in %s\n", d.Dir)
			if err := d.Up(context.Background(), cmd.OutOrStdout()); err != nil {
				return fmt.Errorf("%w\n(logs are in %s; `plattr dev down` stops what started)", err, d.Dir)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Ready. Use it from this shell with:\n  eval \"$(%s dev env)\"\n", os.Args[0])
			if url, err := d.APIURL(); err == nil {
				// The local stack's own dev user: showing its password is
				// the point (it exists only on this machine).
				password, _ := d.DevPassword()
				fmt.Fprintf(cmd.OutOrStdout(), "Portal: %s  (sign in as %s, password %s)\n"+
					"API:    curl -H \"Authorization: Bearer $PLATTR_TOKEN\" $PLATTR_API_URL/api/v1/apps\n", url, stack.DevUserEmail, password)
			}
			return nil
		}),
	})
	var purge bool
	down := &cobra.Command{
		Use:     "down",
		Short:   "Stop the local stack (--purge also deletes its data)",
		Example: "  plattr dev down\n  plattr dev down --purge",
		RunE: g.withStack(func(cmd *cobra.Command, d *stack.Dev) error {
			if err := d.Down(purge); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Stopped.")
			return nil
		}),
	}
	down.Flags().BoolVar(&purge, "purge", false, "also delete the stack's data")
	dev.AddCommand(down)
	dev.AddCommand(&cobra.Command{
		Use:     "status",
		Short:   "Show which parts of the local stack are running",
		Example: "  plattr dev status",
		RunE: g.withStack(func(cmd *cobra.Command, d *stack.Dev) error {
			st := d.Status()
			names := make([]string, 0, len(st))
			for n := range st {
				names = append(names, n)
			}
			sort.Strings(names)
			down := 0
			for _, n := range names {
				state := "running"
				if !st[n] {
					state, down = "stopped", down+1
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-24s %s\n", n, state)
			}
			if down > 0 {
				return fmt.Errorf("%d of %d parts are stopped: run `plattr dev up`", down, len(names))
			}
			return nil
		}),
	})
	var tf targetFlags
	envCmd := &cobra.Command{
		Use:   "env [--app NAME]",
		Short: "Print shell export lines: the local stack's endpoints, or with --app the app's own environment",
		Example: `  eval "$(plattr dev env)"                 # kubectl and friends reach the local stack
  eval "$(plattr dev env --app web -n default)"  # what the app's pods get: DATABASE_URL, S3_*, AUTH_*`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tf.app != "" {
				env, err := g.appEnv(cmd, &tf)
				if err != nil {
					return err
				}
				for _, k := range sortedKeys(env) {
					fmt.Fprintf(cmd.OutOrStdout(), "export %s=%s\n", k, shellQuote(env[k]))
				}
				return nil
			}
			return g.withStack(func(cmd *cobra.Command, d *stack.Dev) error {
				env, err := d.Env()
				if err != nil {
					return err
				}
				for _, kv := range env {
					fmt.Fprintf(cmd.OutOrStdout(), "export %s=%s\n", kv[0], shellQuote(kv[1]))
				}
				return nil
			})(cmd, args)
		},
	}
	tf.add(envCmd)
	dev.AddCommand(envCmd)
	dev.AddCommand(newDevRegistryCommand())
	return dev
}

func shellQuote(s string) string {
	out := "'"
	for _, r := range s {
		if r == '\'' {
			out += `'\''`
		} else {
			out += string(r)
		}
	}
	return out + "'"
}
