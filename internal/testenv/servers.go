package testenv

import (
	"context"
	"os"
	"path/filepath"

	"github.com/plattr/plattr/internal/stack/dex"
	"github.com/plattr/plattr/internal/stack/proc"
	"github.com/plattr/plattr/internal/stack/s3"
)

// ObjectStore is a running versitygw.
type ObjectStore struct {
	*s3.Server
}

// StartObjectStore starts versitygw in a temporary directory with random
// root keys, with a second attempt on new ports as StartCluster does.
func StartObjectStore(ctx context.Context) (*ObjectStore, error) {
	o, err := startObjectStore(ctx)
	if err != nil && ctx.Err() == nil {
		o, err = startObjectStore(ctx)
	}
	return o, err
}

func startObjectStore(ctx context.Context) (*ObjectStore, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "plattr-s3-")
	if err != nil {
		return nil, err
	}
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	s, err := s3.New(filepath.Join(root, "bin"), dir, port, adminPort, "admin-"+RandomString(8), RandomString(32))
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		_ = s.Stop()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &ObjectStore{s}, nil
}

// Stop stops the store and removes its data.
func (o *ObjectStore) Stop() {
	_ = o.Server.Stop()
	_ = os.RemoveAll(o.Dir)
}

// TestUser is the password-database user StartDex configures.
const (
	TestUserEmail    = "tester@plattr.test"
	TestUserPassword = "correct-horse-battery-staple"
)

// Dex is a running Dex.
type Dex struct {
	*dex.Server
}

// StartDex starts Dex against the cluster, keeping its resources in
// namespace, with TestUserEmail as a password user.
func StartDex(ctx context.Context, cluster *Cluster, namespace string) (*Dex, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "plattr-dex-")
	if err != nil {
		return nil, err
	}
	var d *dex.Server
	for attempt := 0; attempt < 2; attempt++ {
		port, perr := proc.FreePort()
		if perr != nil {
			return nil, perr
		}
		d, err = dex.New(filepath.Join(root, "bin"), dir, port, cluster.Plane.Kubeconfig(), namespace,
			TestUserEmail+":"+TestUserPassword)
		if err != nil {
			return nil, err
		}
		if err = d.Start(ctx); err == nil {
			return &Dex{d}, nil
		}
		_ = d.Stop()
	}
	return nil, err
}

// Stop stops Dex and removes its files.
func (d *Dex) Stop() {
	_ = d.Server.Stop()
	_ = os.RemoveAll(d.Dir)
}
