// Package stack runs Plattr's local stack for `plattr dev`: a Kubernetes
// control plane with simulated nodes, a PostgreSQL server and the operator,
// as background processes whose state lives in one directory.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/plattr/plattr/internal/crds"
	"github.com/plattr/plattr/internal/stack/kube"
	"github.com/plattr/plattr/internal/stack/postgres"
	"github.com/plattr/plattr/internal/stack/proc"
)

// BaseDomain is the domain apps get on the local stack.
const BaseDomain = "plattr.localhost"

// Dev is the local stack in one state directory.
type Dev struct {
	Dir    string // state: kube/, postgres/, operator.pid, …
	BinDir string // holds plattr-operator, k8s-v*/ and kwok-v*/
}

func (d *Dev) plane() (*kube.ControlPlane, error) {
	bins, err := kube.FindBinaries(d.BinDir)
	return &kube.ControlPlane{Dir: filepath.Join(d.Dir, "kube"), Bin: bins, Nodes: 2}, err
}

func (d *Dev) postgres() (*postgres.Server, error) {
	dir := filepath.Join(d.Dir, "postgres")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Port and password are chosen once and kept.
	port, err := remember(filepath.Join(d.Dir, "postgres.port"), func() (string, error) {
		p, err := proc.FreePort()
		return strconv.Itoa(p), err
	})
	if err != nil {
		return nil, err
	}
	password, err := remember(filepath.Join(d.Dir, "postgres.password"), func() (string, error) {
		b := make([]byte, 16)
		_, err := rand.Read(b)
		return hex.EncodeToString(b), err
	})
	if err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(port)
	return postgres.New(dir, n, password), nil
}

func (d *Dev) metricsPort() (int, error) {
	p, err := remember(filepath.Join(d.Dir, "operator.port"), func() (string, error) {
		p, err := proc.FreePort()
		return strconv.Itoa(p), err
	})
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

func (d *Dev) operator(dbURL, kubeconfig string, metricsPort int) *proc.Process {
	return &proc.Process{
		Name: "plattr-operator", Path: filepath.Join(d.BinDir, "plattr-operator"), Dir: d.Dir,
		Env: []string{
			"KUBECONFIG=" + kubeconfig,
			"DB_ADMIN_URL=" + dbURL,
			"BASE_DOMAIN=" + BaseDomain,
			"METRICS_ADDR=127.0.0.1:" + strconv.Itoa(metricsPort),
			"LEADER_ELECTION=false",
		},
	}
}

// remember returns the value stored in path, creating it with make once.
func remember(path string, make func() (string, error)) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	v, err := make()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}

// Up starts whatever is not running yet and returns once all are ready.
func (d *Dev) Up(ctx context.Context, out io.Writer) error {
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return err
	}
	step := func(what string, f func() error) error {
		start := time.Now()
		fmt.Fprintf(out, "  %-34s", what+"…")
		if err := f(); err != nil {
			fmt.Fprintln(out, "failed")
			return err
		}
		fmt.Fprintf(out, "ready (%s)\n", time.Since(start).Round(10*time.Millisecond))
		return nil
	}
	plane, err := d.plane()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(d.BinDir, "plattr-operator")); err != nil {
		return fmt.Errorf("plattr-operator not found next to plattr in %s: run `make build`", d.BinDir)
	}
	pg, err := d.postgres()
	if err != nil {
		return err
	}
	if err := step("Kubernetes control plane", func() error { return plane.Start(ctx) }); err != nil {
		return err
	}
	if err := step("Plattr CRDs", func() error {
		cfg, err := plane.RESTConfig()
		if err != nil {
			return err
		}
		return crds.Install(ctx, cfg)
	}); err != nil {
		return err
	}
	if err := step("PostgreSQL", func() error {
		if _, running := (&proc.Process{Name: "postgres", Dir: pg.Dir}).Running(); running {
			return nil
		}
		return pg.Start(ctx)
	}); err != nil {
		return err
	}
	port, err := d.metricsPort()
	if err != nil {
		return err
	}
	op := d.operator(pg.URL(), plane.Kubeconfig(), port)
	return step("Plattr operator", func() error {
		if _, running := op.Running(); !running {
			if err := op.Start(); err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return op.WaitFor(ctx, "ready", func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return errors.New(resp.Status)
			}
			return nil
		})
	})
}

// Down stops everything, newest first; purge also deletes the state.
func (d *Dev) Down(purge bool) error {
	var errs []error
	errs = append(errs, d.operator("", "", 0).Stop(15*time.Second))
	if pg, err := d.postgres(); err == nil {
		errs = append(errs, pg.Stop())
		if purge {
			errs = append(errs, pg.Purge())
		}
	}
	plane, _ := d.plane()
	errs = append(errs, plane.Stop())
	if purge {
		errs = append(errs, os.RemoveAll(d.Dir))
	}
	return errors.Join(errs...)
}

// Status reports which processes run.
func (d *Dev) Status() map[string]bool {
	plane, _ := d.plane() // missing binaries only matter for starting
	out := plane.Status()
	_, out["postgres"] = (&proc.Process{Name: "postgres", Dir: filepath.Join(d.Dir, "postgres")}).Running()
	_, out["plattr-operator"] = d.operator("", "", 0).Running()
	return out
}

// Env returns the variables a shell needs to use the stack, sorted.
func (d *Dev) Env() ([][2]string, error) {
	plane, _ := d.plane()
	pg, err := d.postgres()
	if err != nil {
		return nil, err
	}
	port, err := d.metricsPort()
	if err != nil {
		return nil, err
	}
	env := [][2]string{
		{"KUBECONFIG", plane.Kubeconfig()},
		{"DB_ADMIN_URL", pg.URL()},
		{"BASE_DOMAIN", BaseDomain},
		{"PLATTR_OPERATOR_METRICS", fmt.Sprintf("http://127.0.0.1:%d/metrics", port)},
	}
	if plane.Bin.K8sDir != "" {
		env = append(env, [2]string{"PATH", plane.Bin.K8sDir + ":" + os.Getenv("PATH")})
	}
	sort.Slice(env, func(i, j int) bool { return env[i][0] < env[j][0] })
	return env, nil
}
