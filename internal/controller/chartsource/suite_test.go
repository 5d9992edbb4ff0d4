package chartsource_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/controller/chartsource"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/testenv"
)

const platformNamespace = "plattr-system"

var (
	cluster *testenv.Cluster
	k8s     client.Client
	// regHost is the test registry (the local stack's, in-process).
	regHost string
	helmBin string
	root    string
	calls   counter
)

// counter counts the reconciler's writes and its scans (each lists a
// source's ChartVersions once), per source.
type counter struct {
	mu     sync.Mutex
	writes map[string]int
	scans  map[string]int
}

func (c *counter) add(m *map[string]int, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[key]++
}

func (c *counter) get(m *map[string]int, key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return (*m)[key]
}

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var err error
	if cluster, err = testenv.StartCluster(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cancel()
	if root, err = testenv.RepoRoot(); err != nil {
		panic(err)
	}
	if helmBin, err = testenv.HelmBinary(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	reg, err := testenv.StartChartRegistry()
	if err != nil {
		panic(err)
	}
	regHost = reg.Host

	k8s, err = client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		panic(err)
	}
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		panic(err)
	}
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{Scheme: operator.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		NewClient: func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, o)
			if err != nil {
				return nil, err
			}
			return counting(c), nil
		}})
	if err != nil {
		panic(err)
	}
	deps := kit.Deps{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("plattr-operator")}
	if err := (&chartsource.Reconciler{Deps: deps, PlatformNamespace: platformNamespace}).SetupWithManager(mgr, true); err != nil {
		panic(err)
	}
	mctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	code := m.Run()
	stop()
	<-done
	reg.Stop()
	cluster.Stop()
	os.Exit(code)
}

// counting wraps the reconciler's client to count its writes and scans.
func counting(c client.WithWatch) client.Client {
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			calls.add(&calls.writes, "create")
			return c.Create(ctx, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*platformv1.ChartVersionList); ok {
				lo := &client.ListOptions{}
				lo.ApplyOptions(opts)
				src, _ := lo.LabelSelector.RequiresExactMatch(platformv1.LabelChartSource)
				defer calls.add(&calls.scans, src)
			}
			return c.List(ctx, list, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			calls.add(&calls.writes, "status "+obj.GetName())
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			calls.add(&calls.writes, "status "+obj.GetName())
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
}

// helm runs the helm CLI with its own config and cache directories.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin, args...)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home+"/config", "HELM_CACHE_HOME="+home+"/cache", "HELM_DATA_HOME="+home+"/data")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pushChart packages testdata chart dir with version and pushes it to
// oci://<registry>/<prefix>, returning the archive's path.
func pushChart(t *testing.T, chart, version, prefix string) string {
	t.Helper()
	out := t.TempDir()
	helm(t, "package", filepath.Join(root, "internal", "charts", "testdata", chart), "--version", version, "-d", out)
	tgz := filepath.Join(out, fmt.Sprintf("%s-%s.tgz", chart, version))
	helm(t, "push", tgz, "oci://"+regHost+"/"+prefix, "--plain-http")
	return tgz
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last: %s", what, within, last)
}

func versionsOf(t *testing.T, source string) []platformv1.ChartVersion {
	t.Helper()
	list := &platformv1.ChartVersionList{}
	if err := k8s.List(t.Context(), list, client.MatchingLabels{platformv1.LabelChartSource: source}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}
