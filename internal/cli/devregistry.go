package cli

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/plattr/plattr/internal/charts/registry"
)

// newDevRegistryCommand is the local stack's OCI registry process, started
// by `plattr dev up` (hidden: nobody runs it by hand).
func newDevRegistryCommand() *cobra.Command {
	var addr, dir string
	cmd := &cobra.Command{
		Use:     "registry --addr 127.0.0.1:PORT --dir DIR",
		Example: "  plattr dev registry --addr 127.0.0.1:5001 --dir /tmp/registry   # plattr dev up runs it",
		Short:   "Serve the local stack's OCI registry (plain HTTP) from DIR",
		Hidden:  true,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return registry.Serve(ctx, addr, dir)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:5000", "address to listen on (loopback only: it speaks plain HTTP)")
	cmd.Flags().StringVar(&dir, "dir", "", "state directory (blobs and the manifest journal)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}
