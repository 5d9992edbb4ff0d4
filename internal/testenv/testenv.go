// Package testenv starts the real servers integration tests run against: a
// Kubernetes control plane with simulated nodes and Plattr's CRDs, and a
// PostgreSQL server. Start them once per test package, from TestMain.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"

	"github.com/plattr/plattr/internal/crds"
	"github.com/plattr/plattr/internal/stack/kube"
	"github.com/plattr/plattr/internal/stack/postgres"
	"github.com/plattr/plattr/internal/stack/proc"
)

// RepoRoot finds the repository root (the directory with go.mod) upwards
// from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Cluster is a running control plane.
type Cluster struct {
	Config *rest.Config
	Plane  *kube.ControlPlane
	dir    string
}

// StartCluster starts a control plane in a temporary directory and installs
// the CRDs. Test packages run in parallel and each picks free ports, so two
// may race for one; a second attempt, with new ports, settles that.
func StartCluster(ctx context.Context) (*Cluster, error) { return StartClusterWith(ctx, 1) }

// StartClusterWith is StartCluster with the given number of simulated
// nodes (500 pods each).
func StartClusterWith(ctx context.Context, nodes int) (*Cluster, error) {
	return retry(ctx, func() (*Cluster, error) { return startCluster(ctx, nodes, true) })
}

// StartBareCluster starts a control plane without Plattr's CRDs, for tests
// that install them the way a platform team does (the Helm chart).
func StartBareCluster(ctx context.Context) (*Cluster, error) {
	return retry(ctx, func() (*Cluster, error) { return startCluster(ctx, 1, false) })
}

func retry(ctx context.Context, start func() (*Cluster, error)) (*Cluster, error) {
	c, err := start()
	if err != nil && ctx.Err() == nil {
		c, err = start()
	}
	return c, err
}

func startCluster(ctx context.Context, nodes int, installCRDs bool) (*Cluster, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	bins, err := kube.FindBinaries(filepath.Join(root, "bin"))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "plattr-kube-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Plane: &kube.ControlPlane{Dir: dir, Bin: bins, Nodes: nodes}, dir: dir}
	if err := c.Plane.Start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	if c.Config, err = c.Plane.RESTConfig(); err != nil {
		c.Stop()
		return nil, err
	}
	c.Config.QPS, c.Config.Burst = 100, 200
	if !installCRDs {
		return c, nil
	}
	if err := crds.Install(ctx, c.Config); err != nil {
		c.Stop()
		return nil, fmt.Errorf("installing CRDs: %w", err)
	}
	return c, nil
}

// Stop stops the control plane and removes its files.
func (c *Cluster) Stop() {
	_ = c.Plane.Stop()
	_ = os.RemoveAll(c.dir)
}

// StartClusterAndPostgres starts both servers an operator test needs; on
// failure nothing is left running.
func StartClusterAndPostgres(ctx context.Context) (*Cluster, *Postgres, error) {
	cluster, err := StartCluster(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the control plane: %w", err)
	}
	pg, err := StartPostgres(ctx)
	if err != nil {
		cluster.Stop()
		return nil, nil, fmt.Errorf("starting PostgreSQL: %w", err)
	}
	return cluster, pg, nil
}

// Postgres is a running PostgreSQL server.
type Postgres struct {
	*postgres.Server
}

// StartPostgres starts a PostgreSQL server in a temporary directory, with a
// second attempt on new ports as StartCluster does.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	p, err := startPostgres(ctx)
	if err != nil && ctx.Err() == nil {
		p, err = startPostgres(ctx)
	}
	return p, err
}

func startPostgres(ctx context.Context) (*Postgres, error) {
	dir, err := os.MkdirTemp("", "plattr-pg-")
	if err != nil {
		return nil, err
	}
	// The server may run as the "postgres" user, which must reach its files.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	s := postgres.New(dir, port, RandomString(16))
	if err := s.Start(ctx); err != nil {
		_ = s.Stop()
		_ = s.Purge()
		return nil, err
	}
	return &Postgres{s}, nil
}

// Kill stops the server at once, as a crash or an OOM kill would: open
// sessions end without a word and new ones are refused, which is what an
// outage test wants its clients to meet. A clean stop (Server.Stop, a fast
// shutdown) first tells every session "terminating connection due to
// administrator command", a second, different error the clients report
// before "connection refused". Server.Start brings it back.
func (p *Postgres) Kill() error {
	// No grace: the stop signal, then SIGKILL to the server's whole session.
	return (&proc.Process{Name: "postgres", Dir: p.Dir}).Stop(0)
}

// Stop stops the server and removes its data.
func (p *Postgres) Stop() {
	_ = p.Server.Stop()
	_ = p.Purge()
}

// RandomString returns n random hex digits.
func RandomString(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
