package testenv

import (
	"context"
	"os"
	"path/filepath"

	"github.com/plattr/plattr/internal/stack/nats"
	"github.com/plattr/plattr/internal/stack/proc"
)

// NATS is a running NATS server in operator JWT mode (a system account, a
// full resolver), with fresh keys.
type NATS struct {
	*nats.Server
}

// StartNATS starts a NATS server on 127.0.0.1 in a temporary directory. The
// binary is bin/nats-v*/nats-server (hack/build-tools.sh nats), or the one in
// the directory PLATTR_NATS_BIN names.
func StartNATS(ctx context.Context) (*NATS, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "plattr-nats-")
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		port, perr := proc.FreePort()
		if perr != nil {
			return nil, perr
		}
		s, err := nats.New(filepath.Join(root, "bin"), dir, port)
		if err != nil {
			return nil, err
		}
		if err = s.Start(ctx); err == nil {
			return &NATS{s}, nil
		}
		_ = s.Stop()
		if attempt == 1 || ctx.Err() != nil {
			return nil, err
		}
	}
}

// Stop stops the server and removes its state.
func (n *NATS) Stop() {
	_ = n.Server.Stop()
	_ = os.RemoveAll(n.Dir)
}
