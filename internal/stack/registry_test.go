package stack_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/stack"
	"github.com/plattr/plattr/internal/testenv"
)

// checkLocalRegistry pushes a chart with `helm push --plain-http` to
// PLATTR_REGISTRY, waits for the ChartSource local to record it, restarts
// the stack (dev down, dev up) and checks the registry still serves it.
func checkLocalRegistry(ctx context.Context, t *testing.T, d *stack.Dev, vars map[string]string) {
	t.Helper()
	addr := vars["PLATTR_REGISTRY"]
	if addr == "" {
		t.Fatal("dev env prints no PLATTR_REGISTRY")
	}
	root, _ := testenv.RepoRoot()
	helmBins, _ := filepath.Glob(filepath.Join(root, "bin", "helm-v*", "helm"))
	if len(helmBins) == 0 {
		t.Fatal("no helm in bin/helm-v*/")
	}
	home := t.TempDir()
	helm := func(args ...string) {
		cmd := exec.Command(helmBins[0], args...)
		cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home+"/c", "HELM_CACHE_HOME="+home+"/k", "HELM_DATA_HOME="+home+"/d")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helm %v: %v\n%s", args, err, out)
		}
	}
	helm("package", filepath.Join(root, "internal", "charts", "testdata", "webapp"), "-d", home)
	pushed := time.Now()
	helm("push", filepath.Join(home, "webapp-0.1.0.tgz"), "oci://"+addr+"/charts", "--plain-http")

	cfg, err := clientcmd.BuildConfigFromFlags("", vars["KUBECONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		list := &platformv1.ChartVersionList{}
		if err := c.List(ctx, list, client.MatchingLabels{platformv1.LabelChartSource: stack.LocalChartSource}); err == nil && len(list.Items) == 1 {
			t.Logf("local registry: discovered %s %s in %s (interval 10 s)", list.Items[0].Spec.Chart, list.Items[0].Spec.Version, time.Since(pushed).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ChartSource local did not record the pushed chart within 60 s")
		}
		time.Sleep(500 * time.Millisecond)
	}

	if err := d.Down(false); err != nil {
		t.Fatalf("dev down: %v", err)
	}
	var out bytes.Buffer
	if err := d.Up(ctx, &out); err != nil {
		t.Fatalf("dev up again: %v\n%s", err, out.String())
	}
	ref, _ := name.ParseReference(addr+"/charts/webapp:0.1.0", name.Insecure)
	if _, err := remote.Head(ref, remote.WithContext(ctx)); err != nil {
		t.Errorf("after dev down / up the registry no longer serves the chart: %v", err)
	}
}
