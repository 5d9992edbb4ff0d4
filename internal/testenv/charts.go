package testenv

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/plattr/plattr/internal/charts/registry"
)

// HelmBinary is the helm CLI `make tools` builds into bin/helm-v*/helm,
// which chart tests use for `helm package` and `helm push`.
func HelmBinary() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	matches, _ := filepath.Glob(filepath.Join(root, "bin", "helm-v*", "helm"))
	if len(matches) == 0 {
		return "", fmt.Errorf("no helm in %s/bin/helm-v*/: run make tools", root)
	}
	return matches[0], nil
}

// ChartRegistry is the local stack's OCI registry served in-process on
// 127.0.0.1, with its state in a temporary directory.
type ChartRegistry struct {
	Host string // host:port, plain HTTP
	srv  *httptest.Server
	reg  *registry.Registry
	dir  string
}

// StartChartRegistry starts one; Stop removes its state.
func StartChartRegistry() (*ChartRegistry, error) {
	dir, err := os.MkdirTemp("", "plattr-registry-")
	if err != nil {
		return nil, err
	}
	reg, err := registry.New(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	srv := httptest.NewServer(reg)
	return &ChartRegistry{Host: strings.TrimPrefix(srv.URL, "http://"), srv: srv, reg: reg, dir: dir}, nil
}

// Stop closes the server and the registry and removes its state.
func (r *ChartRegistry) Stop() {
	r.srv.Close()
	_ = r.reg.Close()
	_ = os.RemoveAll(r.dir)
}
