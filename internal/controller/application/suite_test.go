package application_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/stack/proc"
	"github.com/plattr/plattr/internal/testenv"
)

// One control plane, one PostgreSQL, one object store and one Dex serve
// every test of this package, and one operator reconciles for all of them.
// Tests that stop or restart the operator or a backend, change its clock or
// the nodes, or read a counter every app adds to, run one at a time; Go runs
// those first. Every other test uses namespaces and app names of its own
// and calls t.Parallel(): most of a test is waiting on the operator and the
// control plane, so they overlap well (see parallelTests).
var (
	cluster   *testenv.Cluster
	pg        *testenv.Postgres
	s3        *testenv.ObjectStore
	dex       *testenv.Dex
	k8s       client.Client
	writes    writeCounter
	opMu      sync.Mutex
	opCancel  context.CancelFunc
	opDone    chan error
	nsCounter atomic.Int32
	// opClock is the clock the next operator start gets; nil is the real one.
	opClock clock.PassiveClock
)

const (
	baseDomain   = "apps.plattr.test"
	dexNamespace = "dex"
	// platformNamespace is where the platform team keeps what tenants must
	// not write (the operator's default, PLATFORM_NAMESPACE).
	platformNamespace = "plattr-system"
)

// metricsAddr is where the operator under test serves /metrics and health.
var metricsAddr string

// parallelTests is how many of the package's parallel tests run at once
// unless -test.parallel says otherwise. Go's default, GOMAXPROCS, is 2 on
// a 2-core machine, and these tests mostly wait.
const parallelTests = 8

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(parallelTests))
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapcore.Level(zapLevel())), zap.StacktraceLevel(zapcore.DPanicLevel)))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var err error
	cluster, pg, err = testenv.StartClusterAndPostgres(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if s3, err = testenv.StartObjectStore(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "starting versitygw:", err)
		os.Exit(1)
	}
	if dex, err = testenv.StartDex(ctx, cluster, dexNamespace); err != nil {
		fmt.Fprintln(os.Stderr, "starting Dex:", err)
		os.Exit(1)
	}
	cancel()
	port, err := proc.FreePort()
	if err != nil {
		panic(err)
	}
	metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)
	k8s, err = client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		panic(err)
	}
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		panic(err)
	}
	code := m.Run()
	stopOperator()
	dex.Stop()
	s3.Stop()
	pg.Stop()
	cluster.Stop()
	os.Exit(code)
}

// writeCounter counts the operator's writes to the API server, per object.
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (w *writeCounter) add(verb string, obj client.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.counts == nil {
		w.counts = map[string]int{}
	}
	w.counts[fmt.Sprintf("%s %T %s/%s", verb, obj, obj.GetNamespace(), obj.GetName())]++
}

func (w *writeCounter) addApply(what, namespace string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.counts == nil {
		w.counts = map[string]int{}
	}
	w.counts["apply "+namespace+"/"+what]++
}

// writeMark is the count of every object's writes at one moment.
type writeMark map[string]int

// mark starts a window of writes; since(mark) ends it. Nothing is reset,
// so the windows of tests running in parallel do not disturb each other.
func (w *writeCounter) mark() writeMark {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := make(writeMark, len(w.counts))
	for k, n := range w.counts {
		m[k] = n
	}
	return m
}

// since returns the writes, per object, counted after mark was taken.
func (w *writeCounter) since(mark writeMark) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, n := range w.counts {
		if d := n - mark[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func wrapCounting(c client.WithWatch) client.Client {
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			writes.add("create", obj)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			writes.add("update", obj)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			writes.add("patch", obj)
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			writes.add("delete", obj)
			return c.Delete(ctx, obj, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			if named, ok := obj.(interface {
				GetName() *string
				GetNamespace() *string
			}); ok {
				writes.addApply(fmt.Sprintf("%T %s", obj, *named.GetName()), ptr.Deref(named.GetNamespace(), "")) // nil for cluster-scoped
			}
			return c.Apply(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			writes.add("patch/"+sub, obj)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			writes.add("update/"+sub, obj)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
}

func operatorConfig() config.Operator {
	return config.Operator{
		DBAdminURL:              pg.URL(),
		BaseDomain:              baseDomain,
		IngressClass:            "nginx",
		ClusterIssuer:           "letsencrypt-prod",
		MetricsAddr:             metricsAddr,
		MaxConcurrentReconciles: 4,
		KubeAPIQPS:              100,
		KubeAPIBurst:            200,
		PreviewMaxTTL:           720 * time.Hour,
		DriftCheckInterval:      time.Second,
		Pprof:                   true,
		// Custom domains in the tests are under example.org (auth_test,
		// hosts_test); example.net stays outside, for the refusals.
		AllowedDomainSuffixes: []string{"example.org"},
		S3: config.S3{
			Endpoint: s3.Endpoint(), Region: "us-east-1", AccessKey: s3.AccessKey, SecretKey: s3.SecretKey,
			AdminEndpoint: s3.AdminEndpoint(),
		},
		Auth: config.Auth{
			Provider: config.AuthDex, DexIssuer: dex.Issuer(), DexNamespace: dexNamespace,
			DexSharedConnectors: []string{"local"}, ProvidersSecret: "plattr-auth-providers",
		},
	}
}

// startOperator runs the operator in this process until stopOperator.
func startOperator(t testing.TB) { startOperatorWith(t, nil) }

// restartOperatorWith runs the operator with a changed configuration for
// the rest of one test; the next test gets the usual one again.
func restartOperatorWith(t testing.TB, change func(*config.Operator)) {
	t.Helper()
	stopOperator()
	startOperatorWith(t, change)
	t.Cleanup(stopOperator)
}

func startOperatorWith(t testing.TB, change func(*config.Operator)) {
	t.Helper()
	cfg := operatorConfig()
	if change != nil {
		change(&cfg)
	}
	opMu.Lock()
	defer opMu.Unlock()
	if opCancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		defer func() {
			if err := <-done; err != nil {
				fmt.Fprintln(os.Stderr, "operator stopped:", err)
			}
			done <- nil
		}()
		done <- operator.Run(ctx, cfg, cluster.Config, operator.Options{NewClient: func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, o)
			if err != nil {
				return nil, err
			}
			return wrapCounting(c), nil
		}, Restartable: true, Clock: opClock})
	}()
	opCancel, opDone = cancel, done
}

func stopOperator() {
	opMu.Lock()
	defer opMu.Unlock()
	if opCancel == nil {
		return
	}
	opCancel()
	<-opDone
	opCancel, opDone = nil, nil
}

// newNamespace creates a namespace for one test.
func newNamespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsCounter.Add(1), testenv.RandomString(4))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return name
}

func loadExample(t testing.TB, file string) *platformv1.Application {
	t.Helper()
	app := &platformv1.Application{}
	loadExampleInto(t, file, app)
	return app
}

func loadExampleSecret(t testing.TB, file string) *corev1.Secret {
	t.Helper()
	secret := &corev1.Secret{}
	loadExampleInto(t, file, secret)
	return secret
}

// loadExampleInto reads examples/<file>, strictly: the examples must apply
// unchanged.
func loadExampleInto(t testing.TB, file string, obj client.Object) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(root + "/examples/" + file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		t.Fatal(err)
	}
}

func configMapData(t testing.TB, ns, name string) map[string]string {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		t.Fatalf("reading ConfigMap %s: %v", name, err)
	}
	return cm.Data
}

func newApp(ns, name string, mutate ...func(*platformv1.Application)) *platformv1.Application {
	app := &platformv1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: platformv1.ApplicationSpec{
			Repository:  "github.com/example/" + name,
			Framework:   "docker",
			Environment: platformv1.EnvironmentStaging,
			ImageRef:    "registry.example.com/" + name + ":1",
			Database:    &platformv1.DatabaseSpec{Enabled: true},
		},
	}
	for _, m := range mutate {
		m(app)
	}
	return app
}

func create(t testing.TB, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// eventually polls cond until it returns nil or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
}

func getApp(t testing.TB, ns, name string) *platformv1.Application {
	t.Helper()
	app := &platformv1.Application{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, app); err != nil {
		t.Fatal(err)
	}
	return app
}

// waitPhase waits for the app to reach phase and returns it.
func waitPhase(t testing.TB, ns, name string, phase platformv1.Phase, timeout time.Duration) *platformv1.Application {
	t.Helper()
	var app *platformv1.Application
	eventually(t, timeout, fmt.Sprintf("%s/%s to be %s", ns, name, phase), func() error {
		app = &platformv1.Application{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, app); err != nil {
			return err
		}
		if app.Status.Phase != phase {
			return fmt.Errorf("phase %q, conditions %s; pods: %s", app.Status.Phase, describeConditions(app), describePods(ns))
		}
		return nil
	})
	return app
}

// describePods says where a namespace's pods are stuck, for timeouts.
func describePods(ns string) string {
	pods := &corev1.PodList{}
	if err := k8s.List(context.Background(), pods, client.InNamespace(ns)); err != nil {
		return err.Error()
	}
	var out []string
	for _, p := range pods.Items {
		var conds []string
		for _, c := range p.Status.Conditions {
			conds = append(conds, fmt.Sprintf("%s=%s(%s)", c.Type, c.Status, c.Message))
		}
		out = append(out, fmt.Sprintf("%s node=%q phase=%s %v", p.Name, p.Spec.NodeName, p.Status.Phase, conds))
	}
	return fmt.Sprint(len(out), " ", out)
}

func describeConditions(app *platformv1.Application) string {
	s := ""
	for _, c := range app.Status.Conditions {
		s += fmt.Sprintf("[%s=%s %s: %s] ", c.Type, c.Status, c.Reason, c.Message)
	}
	return s
}

func condition(app *platformv1.Application, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(app.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{Type: typ, Status: "Missing"}
}

func secretData(t testing.TB, ns, name string) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s.Data
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

func zapLevel() int8 {
	if os.Getenv("PLATTR_TEST_VERBOSE") != "" {
		return -1
	}
	return 2 // errors only
}

// setEnvVars changes an app's spec.envVars: a spec change, so a new generation.
func setEnvVars(t testing.TB, ns, name string, vars ...platformv1.EnvVar) {
	t.Helper()
	update(t, client.ObjectKey{Namespace: ns, Name: name}, &platformv1.Application{}, func(app *platformv1.Application) {
		app.Spec.EnvVars = vars
	})
}

// tryUpdate reads obj, changes it and writes it back, again on a conflict:
// controllers (the operator, kube-controller-manager) write the same
// objects, so a read-modify-write can lose a race it should just retry.
func tryUpdate[T client.Object](key client.ObjectKey, obj T, mutate func(T)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(context.Background(), key, obj); err != nil {
			return err
		}
		mutate(obj)
		return k8s.Update(context.Background(), obj)
	})
}

// update is tryUpdate that fails the test on error.
func update[T client.Object](t testing.TB, key client.ObjectKey, obj T, mutate func(T)) {
	t.Helper()
	if err := tryUpdate(key, obj, mutate); err != nil {
		t.Fatalf("updating %T %s: %v", obj, key, err)
	}
}

// runningApp starts the operator, creates a database+workload app in a new
// namespace and waits for it to be Running; it returns the namespace.
func runningApp(t testing.TB, name string) string {
	t.Helper()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, name))
	waitPhase(t, ns, name, platformv1.PhaseRunning, runningTimeout)
	return ns
}

// outage describes a backing service going down under a new app.
type outage struct {
	stop      func() error
	start     func(context.Context) error
	app       *platformv1.Application // its namespace is filled in
	condition string
	reason    string
	names     string // the condition message must contain this
}

// checkOutage stops the service, creates the app, expects its condition to
// go False naming the service and the app not to be Running, then starts
// the service again and expects the app to reach Running by itself. It
// returns the app's namespace.
func checkOutage(t *testing.T, o outage) string {
	t.Helper()
	startOperator(t)
	ns := newNamespace(t)
	if err := o.stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = o.start(context.Background())
		}
	})
	o.app.Namespace = ns
	create(t, o.app)
	eventually(t, runningTimeout, o.condition+" to name the service", func() error {
		app := getApp(t, ns, o.app.Name)
		c := condition(app, o.condition)
		if c.Status != metav1.ConditionFalse || c.Reason != o.reason || !strings.Contains(c.Message, o.names) {
			return fmt.Errorf("%s = %s/%s: %s", o.condition, c.Status, c.Reason, c.Message)
		}
		if app.Status.Phase == platformv1.PhaseRunning {
			t.Fatal("Running while the service is down")
		}
		return nil
	})
	if err := o.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitPhase(t, ns, o.app.Name, platformv1.PhaseRunning, runningTimeout)
	return ns
}
