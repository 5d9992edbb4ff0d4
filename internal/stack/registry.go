package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/stack/proc"
)

// LocalChartSource is the ChartSource of the local registry.
const LocalChartSource = "local"

// registry is the local OCI registry: `plattr dev registry`, serving
// plain HTTP on 127.0.0.1 with its state in registry/ (blobs and a
// manifest journal, so charts survive `plattr dev down` / `up`).
func (d *Dev) registry() (*proc.Process, string, error) {
	port, err := d.port("registry")
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return &proc.Process{
		Name: "plattr-registry", Path: filepath.Join(d.BinDir, "plattr"), Dir: d.Dir,
		Args: []string{"dev", "registry", "--addr", addr, "--dir", filepath.Join(d.Dir, "registry")},
	}, addr, nil
}

// RegistryAddr is the local registry's host:port (PLATTR_REGISTRY).
func (d *Dev) RegistryAddr() (string, error) {
	_, addr, err := d.registry()
	return addr, err
}

// startRegistry starts the registry unless it runs and makes the
// ChartSource local that polls it every 10 s.
func (d *Dev) startRegistry(ctx context.Context, kubeconfig string) error {
	p, addr, err := d.registry()
	if err != nil {
		return err
	}
	if _, err := os.Stat(p.Path); err != nil {
		return fmt.Errorf("plattr not found in %s (the registry is `plattr dev registry`): run `make build`", d.BinDir)
	}
	if err := startReady(ctx, p, "http://"+addr+"/v2/"); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	want := platformv1.ChartSourceSpec{
		OCI:      &platformv1.ChartSourceOCI{Registry: addr, PlainHTTP: true},
		Interval: &metav1.Duration{Duration: 10 * time.Second},
	}
	src := &platformv1.ChartSource{}
	err = c.Get(ctx, client.ObjectKey{Name: LocalChartSource}, src)
	switch {
	case apierrors.IsNotFound(err):
		return c.Create(ctx, &platformv1.ChartSource{ObjectMeta: metav1.ObjectMeta{Name: LocalChartSource}, Spec: want})
	case err != nil:
		return err
	case src.Spec.OCI == nil || src.Spec.OCI.Registry != addr || !src.Spec.OCI.PlainHTTP:
		src.Spec = want
		return c.Update(ctx, src)
	}
	return nil
}

// registryRunning says whether the registry answers.
func (d *Dev) registryRunning() bool {
	p, addr, err := d.registry()
	if err != nil {
		return false
	}
	if _, ok := p.Running(); !ok {
		return false
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/v2/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (d *Dev) stopRegistry() error {
	p, _, err := d.registry()
	if err != nil {
		return err
	}
	if err := p.Stop(10 * time.Second); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
