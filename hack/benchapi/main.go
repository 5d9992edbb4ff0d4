// Command benchapi measures the platform API's read path and event stream
// on this machine: it starts a control plane and PostgreSQL, creates N
// Applications (no operator: only the API's informers read them), runs
// the API in this process, then
//
//   - sends GET /api/v1/apps (a page of 100, as the portal does) and
//     GET /api/v1/apps/{ns}/{name} at a fixed rate (open loop: requests
//     are sent on schedule whether or not earlier ones answered) and
//     prints p50/p99 latency and the achieved rate;
//   - connects C clients to /api/v1/events, makes one change, and prints
//     how long until every client had it.
//
// Usage: go run ./hack/benchapi [-apps 1000] [-rate 1000] [-duration 10s] [-clients 1000]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi"
	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/testenv"
)

var cpuProfile *string

func main() {
	apps := flag.Int("apps", 1000, "Applications in the cluster")
	rate := flag.Int("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "how long each read load runs")
	clients := flag.Int("clients", 1000, "event-stream clients")
	cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of the read load (API and load generator) here")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	if err := run(*apps, *rate, *duration, *clients); err != nil {
		fmt.Fprintln(os.Stderr, "benchapi:", err)
		os.Exit(1)
	}
}

func run(apps, rate int, duration time.Duration, clients int) error {
	ctx := context.Background()
	fmt.Printf("starting a control plane and PostgreSQL…\n")
	cluster, pg, err := testenv.StartClusterAndPostgres(ctx)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	defer pg.Stop()
	scheme, err := platformapi.Scheme()
	if err != nil {
		return err
	}
	cfg := *cluster.Config
	cfg.QPS, cfg.Burst = 500, 1000
	kube, err := client.New(&cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	start := time.Now()
	if err := createApps(ctx, kube, apps); err != nil {
		return err
	}
	fmt.Printf("created %d Applications in %s\n", apps, time.Since(start).Round(time.Millisecond))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	apiCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() {
		done <- platformapi.Run(apiCtx, platformapi.Config{
			DatabaseURL: pg.URL(), SiteAdmins: []string{"bench@plattr.test"}, SessionTTL: time.Hour, TaskLease: time.Minute,
			EventRetention: time.Hour, DBMaxConns: 20, Replica: "bench", StatusPollInterval: time.Hour, StatusPollTimeout: time.Second,
			StatusURLTemplate: "http://127.0.0.1:1{path}", CostSampleInterval: time.Hour,
			// The fan-out's clients share one token: lift the per-user cap.
			StreamMaxPerUser: clients + 1,
		}, cluster.Config, platformapi.Options{Listener: lis, Log: ctrl.Log})
	}()
	base := "http://" + lis.Addr().String()
	if err := waitReady(base, done); err != nil {
		return err
	}
	st, err := store.Open(ctx, pg.URL(), 2)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.EnsureUser(ctx, "bench@plattr.test", true)
	if err != nil {
		return err
	}
	token, _, err := (&authn.Authenticator{Store: st}).IssueToken(ctx, u.ID, "bench", time.Hour)
	if err != nil {
		return err
	}
	// Wait until the API's cache holds every app.
	for {
		var n int
		if body, err := get(base+"/api/v1/apps?limit=1000", token); err == nil {
			n = strings.Count(body, `"namespace"`)
		}
		if n >= min(apps, 1000) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("\nread load: %d requests/s for %s, site admin token, %d apps\n", rate, duration, apps)
	for _, path := range []string{"/api/v1/apps", "/api/v1/apps/bench/app-0042"} {
		lat, achieved, errs := load(base+path, token, rate, duration)
		fmt.Printf("  GET %-28s p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms  %6.0f req/s  errors %d\n",
			path, ms(pct(lat, 50)), ms(pct(lat, 99)), ms(pct(lat, 100)), achieved, errs)
	}

	fmt.Printf("\nevent stream: %d clients, one change\n", clients)
	fan, err := fanout(base, token, st, clients)
	if err != nil {
		return err
	}
	fmt.Printf("  all %d clients had the event after %s (p50 %s, p99 %s)\n", clients,
		pct(fan, 100).Round(time.Millisecond), pct(fan, 50).Round(time.Millisecond), pct(fan, 99).Round(time.Millisecond))
	stop()
	return nil
}

func createApps(ctx context.Context, kube client.Client, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	if err := createNamespace(ctx, kube, "bench"); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			app := &platformv1.Application{
				ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("app-%04d", i)},
				Spec: platformv1.ApplicationSpec{Repository: "github.com/example/bench", Framework: "docker",
					Environment: "staging", ImageRef: "registry.example.com/bench:1"},
			}
			if err := kube.Create(ctx, app); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func waitReady(base string, done <-chan error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("the API stopped: %w", err)
		default:
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the API was not ready within 2 minutes")
}

var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0}, Timeout: 10 * time.Second}

func get(url, token string) (string, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return string(b), err
}

// load sends requests at rate for d, on schedule, and returns their
// latencies, the achieved rate and the number of failures.
func load(url, token string, rate int, d time.Duration) ([]time.Duration, float64, int) {
	interval := time.Second / time.Duration(rate)
	total := int(d / interval)
	lat := make([]time.Duration, total)
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			t0 := time.Now()
			if _, err := get(url, token); err != nil {
				errs.Add(1)
			}
			lat[i] = time.Since(t0)
		}(i)
	}
	wg.Wait()
	return lat, float64(total) / time.Since(start).Seconds(), int(errs.Load())
}

// fanout connects n stream clients, makes one change and returns how long
// each client took to see it.
func fanout(base, token string, st *store.Store, n int) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make([]time.Duration, n)
	var ready, received sync.WaitGroup
	ready.Add(n)
	received.Add(n)
	var changedAt atomic.Int64
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	for i := 0; i < n; i++ {
		go func(i int) {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/events", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				ready.Done()
				received.Done()
				got[i] = -1
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Scan() // "retry:" line: connected
			ready.Done()
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "event: task") {
					got[i] = time.Since(time.Unix(0, changedAt.Load()))
					received.Done()
					return
				}
			}
		}(i)
	}
	ready.Wait()
	time.Sleep(500 * time.Millisecond) // every subscription registered
	changedAt.Store(time.Now().UnixNano())
	if _, err := st.CreateTask(context.Background(), store.NewTask{Namespace: "bench", App: "app-0001", Operation: store.OpReinstall,
		Actor: "bench@plattr.test", Request: map[string]any{}, ExecuteAt: ptr(time.Now().Add(time.Hour))}); err != nil {
		return nil, err
	}
	waited := make(chan struct{})
	go func() { received.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("not every client had the event within 30 s")
	}
	return got, nil
}

func ptr[T any](v T) *T { return &v }

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	i := (len(s) - 1) * p / 100
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func createNamespace(ctx context.Context, kube client.Client, name string) error {
	return kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}
