// Command benchscale measures the operator at scale on a real control plane
// and PostgreSQL (make bench-scale). In one run it prints:
//
//   - a raw baseline: the child objects an app gets, created directly by a
//     client at full parallelism, until every Deployment is Available;
//   - the operator's run: N apps with database+workload until all Running —
//     apps/s (and the ratio to the baseline), apply→Running p50/p99, writes
//     per app (the operator's and the API server's total), the operator's CPU
//     seconds and peak RSS, and the apply→Running time of one app applied by
//     hand in the middle of the burst;
//   - an idle period: writes and reconciles per minute;
//   - deletion of all N, with an orphan check in PostgreSQL.
//
// The operator runs as its own process (bin/plattr-operator), so its CPU and
// memory are its own.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/jackc/pgx/v5"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/stack/proc"
	"github.com/plattr/plattr/internal/testenv"
)

var (
	apps     = flag.Int("apps", 1000, "apps in the burst")
	perNS    = flag.Int("per-namespace", 100, "apps per namespace")
	workers  = flag.Int("workers", 32, "parallel clients creating objects")
	idle     = flag.Duration("idle", 2*time.Minute, "idle period measured after the burst")
	operBin  = flag.String("operator", "bin/plattr-operator", "operator binary")
	progress = flag.Duration("progress", 10*time.Second, "how often to print progress")
	deletion = flag.Bool("delete", true, "delete all apps at the end and check PostgreSQL for orphans (false: skip it, when iterating on the burst)")
	memLimit = flag.String("operator-memlimit", "", "GOMEMLIMIT for the operator only, as config/manager sets it from the container's memory limit (e.g. 128MiB)")
)

func main() {
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

type bench struct {
	cfg  *rest.Config
	c    client.WithWatch
	cs   *kubernetes.Clientset
	pg   *testenv.Postgres
	op   *exec.Cmd
	opMx string // the operator's metrics address
}

func run() error {
	// Interrupted, it still stops the servers it started (deferred below).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	say("starting a control plane with %d simulated nodes and PostgreSQL…", nodesFor(*apps))
	cluster, err := testenv.StartClusterWith(ctx, nodesFor(*apps))
	if err != nil {
		return err
	}
	defer cluster.Stop()
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		return err
	}
	defer pg.Stop()
	b := &bench{cfg: cluster.Config, pg: pg}
	b.cfg.QPS, b.cfg.Burst = 500, 1000
	if b.c, err = client.NewWithWatch(b.cfg, client.Options{Scheme: operator.Scheme()}); err != nil {
		return err
	}
	if b.cs, err = kubernetes.NewForConfig(b.cfg); err != nil {
		return err
	}

	// 1. Raw baseline.
	say("baseline: %d apps' child objects created directly, %d at a time…", *apps, *workers)
	base, err := b.baseline(ctx)
	if err != nil {
		return err
	}
	baseRate := float64(*apps) / base.Seconds()
	say("baseline: %d Deployments Available in %s (%.1f apps/s); cleaning up…", *apps, base.Round(time.Millisecond), baseRate)
	if err := b.deleteNamespaces(ctx, "base-"); err != nil {
		return err
	}

	// 2. The operator's run.
	if err := b.startOperator(cluster.Plane.Kubeconfig()); err != nil {
		return err
	}
	defer b.stopOperator()
	opWrites0, apiWrites0, err := b.writes(ctx)
	if err != nil {
		return err
	}
	mx0, _ := scrape("http://" + b.opMx + "/metrics")
	load0 := loadAverage()
	say("operator: %d apps (database + workload), %d at a time…", *apps, *workers)
	burst, err := b.burst(ctx)
	if err != nil {
		return err
	}
	opWrites1, apiWrites1, _ := b.writes(ctx)
	mx1, _ := scrape("http://" + b.opMx + "/metrics")
	load1 := loadAverage()
	cpu, rss := procStats(b.op.Process.Pid)
	opRate := float64(*apps) / burst.total.Seconds()

	// 3. Idle.
	say("idle for %s…", *idle)
	rec0 := b.metric(`controller_runtime_reconcile_total{controller="application"`)
	select {
	case <-time.After(*idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	opWrites2, _, _ := b.writes(ctx)
	rec1 := b.metric(`controller_runtime_reconcile_total{controller="application"`)
	minutes := idle.Minutes()

	// 4. Deletion and orphans.
	var deleted time.Duration
	var schemas, roles int
	if *deletion {
		say("deleting all %d apps…", *apps)
		start := time.Now()
		if err := b.deleteNamespaces(ctx, "scale-"); err != nil {
			return err
		}
		deleted = time.Since(start)
		if schemas, roles, err = b.orphans(ctx); err != nil {
			return err
		}
	}
	_, peakRSS := procStats(b.op.Process.Pid)
	rss = max(rss, peakRSS)

	fmt.Printf(`
bench-scale: %d apps, %d workers, %d per namespace
  baseline (children applied directly)   %7.1f apps/s   (%s)
  operator (database + workload)         %7.1f apps/s   (%s)   ratio %.0f %%
  apply→Running                          p50 %s   p99 %s
  hand-applied app mid-burst             %s apply→Running
  writes per app                         operator %.1f   API server total %.1f
  operator CPU                           %.1f s   peak RSS %.0f MB
  idle %s                                 operator writes %.1f/min   reconciles %.1f/min (%.2f per 100 apps)
  deletion of all apps                   %s   orphans in PostgreSQL: %d schemas, %d roles
  machine load (1-min average)           %s before the burst, %s after it, %d CPUs
`,
		*apps, *workers, *perNS,
		baseRate, base.Round(time.Millisecond),
		opRate, burst.total.Round(time.Millisecond), 100*opRate/baseRate,
		burst.p50.Round(time.Millisecond), burst.p99.Round(time.Millisecond),
		burst.hand.Round(time.Millisecond),
		(opWrites1-opWrites0)/float64(*apps), (apiWrites1-apiWrites0)/float64(*apps),
		cpu, rss/1024/1024,
		idle.String(), (opWrites2-opWrites1)/minutes, (rec1-rec0)/minutes, (rec1-rec0)/minutes*100/float64(*apps),
		deleted.Round(time.Millisecond), schemas, roles,
		load0, load1, runtime.NumCPU())
	fmt.Print(breakdown(mx0, mx1, *apps))
	if schemas+roles > 0 {
		return fmt.Errorf("orphans left in PostgreSQL")
	}
	return nil
}

func nodesFor(apps int) int { return max(2, (apps*2+399)/400) }

func say(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func namespaceOf(prefix string, i int) string { return fmt.Sprintf("%s%d", prefix, i / *perNS) }

func (b *bench) ensureNamespaces(ctx context.Context, prefix string) error {
	for i := 0; i < *apps; i += *perNS {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespaceOf(prefix, i)}}
		if err := b.c.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
			return err
		}
	}
	return nil
}

// parallel runs f(0..n-1) on the workers, failing on the first error.
func parallel(n int, f func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// baseline creates, per app, what the operator would: ServiceAccount,
// Secret, Deployment (two containers, two replicas), Service, HPA, PDB and
// two Ingresses; it returns when every Deployment is Available.
func (b *bench) baseline(ctx context.Context) (time.Duration, error) {
	if err := b.ensureNamespaces(ctx, "base-"); err != nil {
		return 0, err
	}
	start := time.Now()
	err := parallel(*apps, func(i int) error {
		for _, obj := range childObjects(namespaceOf("base-", i), fmt.Sprintf("app-%d", i)) {
			if err := b.c.Create(ctx, obj); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	err = b.waitUntil(ctx, "Deployments Available", func() (int, error) {
		list := &appsv1.DeploymentList{}
		if err := b.c.List(ctx, list); err != nil {
			return 0, err
		}
		n := 0
		for _, d := range list.Items {
			if strings.HasPrefix(d.Namespace, "base-") && d.Status.AvailableReplicas >= 2 && d.Status.UpdatedReplicas >= 2 {
				n++
			}
		}
		return n, nil
	})
	return time.Since(start), err
}

type burstResult struct {
	total, p50, p99, hand time.Duration
}

// burst creates the apps and waits for all to be Running, recording each
// app's apply→Running time from a watch.
func (b *bench) burst(ctx context.Context) (burstResult, error) {
	if err := b.ensureNamespaces(ctx, "scale-"); err != nil {
		return burstResult{}, err
	}
	hand := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scale-hand"}}
	if err := b.c.Create(ctx, hand); err != nil {
		return burstResult{}, err
	}
	var mu sync.Mutex
	applied, running := map[string]time.Time{}, map[string]time.Time{}
	// An informer, not a bare watch: it lists again and resumes by itself
	// when the API server ends a watch.
	informers, err := cache.New(b.cfg, cache.Options{Scheme: operator.Scheme()})
	if err != nil {
		return burstResult{}, err
	}
	inf, err := informers.GetInformer(ctx, &platformv1.Application{})
	if err != nil {
		return burstResult{}, err
	}
	seen := func(obj any) {
		if app, ok := obj.(*platformv1.Application); ok && app.Status.Phase == platformv1.PhaseRunning {
			key := app.Namespace + "/" + app.Name
			mu.Lock()
			if _, seen := running[key]; !seen {
				running[key] = time.Now()
			}
			mu.Unlock()
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: seen, UpdateFunc: func(_, obj any) { seen(obj) },
	}); err != nil {
		return burstResult{}, err
	}
	ictx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = informers.Start(ictx) }()
	if !informers.WaitForCacheSync(ctx) {
		return burstResult{}, fmt.Errorf("the Application informer did not sync")
	}

	start := time.Now()
	var handOnce sync.Once
	err = parallel(*apps, func(i int) error {
		if i == *apps/2 {
			handOnce.Do(func() {
				go func() {
					app := benchApp("scale-hand", "by-hand")
					mu.Lock()
					applied["scale-hand/by-hand"] = time.Now()
					mu.Unlock()
					_ = b.c.Create(ctx, app)
				}()
			})
		}
		app := benchApp(namespaceOf("scale-", i), fmt.Sprintf("app-%d", i))
		mu.Lock()
		applied[app.Namespace+"/"+app.Name] = time.Now()
		mu.Unlock()
		return b.c.Create(ctx, app)
	})
	if err != nil {
		return burstResult{}, err
	}
	err = b.waitUntil(ctx, "apps Running", func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(running) - btoi(!running["scale-hand/by-hand"].IsZero()), nil
	})
	if err != nil {
		return burstResult{}, err
	}
	total := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	var d []time.Duration
	for key, at := range running {
		if key != "scale-hand/by-hand" {
			d = append(d, at.Sub(applied[key]))
		}
	}
	slices.Sort(d)
	res := burstResult{total: total, p50: d[len(d)/2], p99: d[len(d)*99/100]}
	if at, ok := running["scale-hand/by-hand"]; ok {
		res.hand = at.Sub(applied["scale-hand/by-hand"])
	}
	return res, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// waitUntil polls count until it reaches *apps, printing progress.
func (b *bench) waitUntil(ctx context.Context, what string, count func() (int, error)) error {
	start, last := time.Now(), time.Now()
	for {
		n, err := count()
		if err != nil {
			return err
		}
		if n >= *apps {
			return nil
		}
		if time.Since(last) > *progress {
			say("  %d of %d %s after %s", n, *apps, what, time.Since(start).Round(time.Second))
			last = time.Now()
		}
		if time.Since(start) > 30*time.Minute {
			return fmt.Errorf("only %d of %d %s after 30 minutes", n, *apps, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// deleteNamespaces deletes the namespaces with prefix and waits until they
// and everything in them are gone (the Applications' finalizers included).
func (b *bench) deleteNamespaces(ctx context.Context, prefix string) error {
	list := &corev1.NamespaceList{}
	if err := b.c.List(ctx, list); err != nil {
		return err
	}
	left := 0
	for _, ns := range list.Items {
		if strings.HasPrefix(ns.Name, prefix) {
			left++
			if err := b.c.Delete(ctx, &ns); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
	}
	start, last := time.Now(), time.Now()
	for left > 0 {
		time.Sleep(500 * time.Millisecond)
		if err := b.c.List(ctx, list); err != nil {
			return err
		}
		left = 0
		for _, ns := range list.Items {
			if strings.HasPrefix(ns.Name, prefix) {
				left++
			}
		}
		if time.Since(last) > *progress {
			say("  %d namespaces still being deleted after %s", left, time.Since(start).Round(time.Second))
			last = time.Now()
		}
		if time.Since(start) > 30*time.Minute {
			return fmt.Errorf("%d namespaces %s* still there after 30 minutes", left, prefix)
		}
	}
	return nil
}

func (b *bench) startOperator(kubeconfig string) error {
	port, err := proc.FreePort()
	if err != nil {
		return err
	}
	b.opMx = fmt.Sprintf("127.0.0.1:%d", port)
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	bin := *operBin
	if !filepath.IsAbs(bin) {
		bin = filepath.Join(root, bin)
	}
	b.op = exec.Command(bin)
	b.op.Env = append(os.Environ(),
		"KUBECONFIG="+kubeconfig, "DB_ADMIN_URL="+b.pg.URL(), "BASE_DOMAIN=bench.plattr.test",
		"METRICS_ADDR="+b.opMx, "LEADER_ELECTION=false")
	if *memLimit != "" {
		b.op.Env = append(b.op.Env, "GOMEMLIMIT="+*memLimit)
		say("operator GOMEMLIMIT=%s", *memLimit)
	}
	logFile, err := os.CreateTemp("", "plattr-bench-operator-*.log")
	if err != nil {
		return err
	}
	say("operator log: %s", logFile.Name())
	b.op.Stdout, b.op.Stderr = logFile, logFile
	if err := b.op.Start(); err != nil {
		return fmt.Errorf("starting %s (run make build first): %w", bin, err)
	}
	for range 100 {
		if b.metric("controller_runtime_active_workers") >= 0 && b.metricsUp() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the operator's metrics at %s did not come up; see its log", b.opMx)
}

func (b *bench) stopOperator() {
	if b.op != nil && b.op.Process != nil {
		_ = b.op.Process.Kill()
		_ = b.op.Wait()
	}
}

func (b *bench) metricsUp() bool {
	_, err := scrape("http://" + b.opMx + "/metrics")
	return err == nil
}

// metric sums the operator's samples whose line starts with prefix.
func (b *bench) metric(prefix string) float64 {
	body, err := scrape("http://" + b.opMx + "/metrics")
	if err != nil {
		return -1
	}
	return sumLines(body, func(line string) bool { return strings.HasPrefix(line, prefix) })
}

var writeMethod = regexp.MustCompile(`method="(POST|PUT|PATCH|DELETE)"`)
var writeVerb = regexp.MustCompile(`verb="(POST|PUT|PATCH|DELETE|APPLY)"`)

// writes returns the operator's writes so far (client-go's request counter)
// and the API server's (every client).
func (b *bench) writes(ctx context.Context) (operator, total float64, err error) {
	body, err := scrape("http://" + b.opMx + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	operator = sumLines(body, func(l string) bool {
		return strings.HasPrefix(l, "rest_client_requests_total") && writeMethod.MatchString(l)
	})
	raw, err := b.cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, 0, err
	}
	total = sumLines(string(raw), func(l string) bool {
		return strings.HasPrefix(l, "apiserver_request_total{") && writeVerb.MatchString(l)
	})
	return operator, total, nil
}

// orphans counts schemas and roles Plattr created that are still there.
func (b *bench) orphans(ctx context.Context) (schemas, roles int, err error) {
	conn, err := pgx.Connect(ctx, b.pg.URL())
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM pg_namespace WHERE obj_description(oid, 'pg_namespace') LIKE 'plattr:app=%'),
  (SELECT count(*) FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE 'plattr:app=%')`).Scan(&schemas, &roles)
	return schemas, roles, err
}

func benchApp(ns, name string) *platformv1.Application {
	return &platformv1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: platformv1.ApplicationSpec{
			Repository: "github.com/example/" + name, Framework: "docker", Environment: platformv1.EnvironmentStaging,
			ImageRef: "registry.example.com/" + name + ":1", Database: &platformv1.DatabaseSpec{Enabled: true},
		},
	}
}

func childObjects(ns, name string) []client.Object {
	meta := func(n string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: n, Labels: map[string]string{"app": name}}
	}
	sel := map[string]string{"app": name}
	container := func(n, image string, port int32) corev1.Container {
		return corev1.Container{Name: n, Image: image, Ports: []corev1.ContainerPort{{ContainerPort: port}},
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name + "-db"}}}}}
	}
	pathType := networkingPathPrefix()
	return []client.Object{
		&corev1.ServiceAccount{ObjectMeta: meta(name)},
		&corev1.Secret{ObjectMeta: meta(name + "-db"), StringData: map[string]string{"DATABASE_URL": "postgres://x"}},
		&appsv1.Deployment{ObjectMeta: meta(name), Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: corev1.PodSpec{
				ServiceAccountName: name,
				Containers:         []corev1.Container{container("app", "registry.example.com/app:1", 3000), container("postgrest", "postgrest/postgrest:v12.2.3", 3001)},
			}},
		}},
		&corev1.Service{ObjectMeta: meta(name), Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(3000)}}}},
		hpa(meta(name)),
		pdb(meta(name), sel),
		ingress(meta(name), pathType),
		ingress(meta(name+"-api"), pathType),
	}
}

// procStats reads a process's CPU seconds and peak RSS (bytes) from /proc.
func procStats(pid int) (cpu, rss float64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if len(f) > 12 {
			ut, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			cpu = (ut + st) / 100 // USER_HZ
		}
	}
	if f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				rss = kb * 1024
			}
		}
	}
	return cpu, rss
}

// loadAverage is the machine's 1-minute load average, for reading a figure
// taken on a shared machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
