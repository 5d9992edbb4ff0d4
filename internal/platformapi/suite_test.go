package platformapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/platformapi"
	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/platformapi/authn/githubtest"
	"github.com/plattr/plattr/internal/platformapi/costs"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/testenv"
)

// The suite runs against a real control plane, PostgreSQL and Dex, with
// the operator in this process and two API replicas sharing one database.
var (
	cluster *testenv.Cluster
	pg      *testenv.Postgres
	dex     *testenv.Dex
	kube    client.Client
	db      *store.Store
	apiA    *replica // replica A: most tests talk to it
	apiB    *replica
	// ghIssuer stands in for GitHub Actions' OIDC provider.
	ghIssuer *githubtest.Issuer
	// statusApps answers the apps' status paths (STATUS_URL_TEMPLATE
	// points here): namespace/name → handler.
	statusApps = &statusServer{handlers: map[string]http.HandlerFunc{}}
	// stopOperator stops the operator and waits for it.
	stopOperator = func() {}
)

// The limits the suite runs with (small, so tests reach them quickly).
const (
	testTokenMaxTTL   = 30 * 24 * time.Hour
	testLoginRate     = 20
	testStreamMax     = 10
	testStreamRecheck = time.Second
	testStreamReplay  = 50
)

const (
	siteAdmin       = "admin@plattr.test"
	oidcClientID    = "plattr-portal"
	oidcSecret      = "portal-secret-for-tests"
	dexNamespace    = "dex"
	ciAudience      = "plattr"
	operatorBaseDom = "apps.api.test"
)

type replica struct {
	URL string
	// MetricsURL serves /metrics (METRICS_ADDR), apart from URL.
	MetricsURL string
	stop       context.CancelFunc
	done       chan error
}

// Stop stops the replica and waits for it.
func (r *replica) Stop() {
	r.stop()
	<-r.done
}

func TestMain(m *testing.M) {
	// Fuzzing a parser (-fuzz FuzzParseConfig -run '^$') needs no servers.
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" && flag.Lookup("test.run").Value.String() == "^$" {
		os.Exit(m.Run())
	}
	if os.Getenv("PLATTR_TEST_LOG") != "" {
		ctrl.SetLogger(zap.New())
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var err error
	cluster, pg, err = testenv.StartClusterAndPostgres(ctx)
	if err == nil {
		dex, err = testenv.StartDex(ctx, cluster, dexNamespace)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cancel()
	code := func() int {
		defer cluster.Stop()
		defer pg.Stop()
		defer dex.Stop()
		if err := setup(); err != nil {
			fmt.Fprintln(os.Stderr, "setup:", err)
			return 1
		}
		defer stopOperator()
		defer apiA.Stop()
		defer apiB.Stop()
		defer db.Close()
		return m.Run()
	}()
	os.Exit(code)
}

func setup() error {
	ctx := context.Background()
	scheme, err := platformapi.Scheme()
	if err != nil {
		return err
	}
	if kube, err = client.New(cluster.Config, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	opCtx, opStop := context.WithCancel(ctx)
	opDone := make(chan error, 1)
	stopOperator = func() { opStop(); <-opDone }
	go func() {
		opDone <- operator.Run(opCtx, config.Operator{
			DBAdminURL: pg.URL(), BaseDomain: operatorBaseDom, IngressClass: "nginx", ClusterIssuer: "x",
			MetricsAddr: "0", MaxConcurrentReconciles: 4, KubeAPIQPS: 50, KubeAPIBurst: 100,
			RetryMaxBackoff: 5 * time.Second, ResyncInterval: time.Hour, DriftCheckInterval: time.Hour,
			ProgressDeadline: 10 * time.Minute, PreviewMaxTTL: time.Hour, PreviewSweepInterval: time.Hour,
			EgressDenyCIDRs: []string{"10.0.5.0/24", "fd00:5::/64"},
		}, cluster.Config, operator.Options{Restartable: true})
	}()
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	statusApps.Server = httptest.NewServer(statusApps)
	ghIssuer = githubtest.Start()
	lisA, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	publicURL := "http://" + lisA.Addr().String()
	// The API's OAuth2 client at Dex, as the local stack and the chart
	// register it.
	d := &identity.Dex{Issuer: dex.Issuer(), Namespace: dexNamespace, Client: kube, SharedConnectors: []string{"local"}}
	if _, _, err := d.Ensure(ctx, identity.Client{Owner: "plattr-system/plattr-api", Realm: oidcClientID, App: "Plattr",
		Secret: oidcSecret, RedirectURIs: []string{authn.CallbackURL(publicURL)}, WebOrigins: []string{publicURL}}); err != nil {
		return fmt.Errorf("registering the API at Dex: %w", err)
	}
	if apiA, err = startReplica("a", lisA, publicURL); err != nil {
		return err
	}
	lisB, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if apiB, err = startReplica("b", lisB, publicURL); err != nil {
		return err
	}
	db, err = store.Open(ctx, pg.URL(), 4)
	return err
}

func apiConfig(replicaID, publicURL string) platformapi.Config {
	return platformapi.Config{
		DatabaseURL: pg.URL(), PublicURL: publicURL,
		OIDCIssuer: dex.Issuer(), OIDCClientID: oidcClientID, OIDCClientSecret: oidcSecret,
		SiteAdmins: []string{siteAdmin}, SessionTTL: time.Hour, TaskLease: 3 * time.Second,
		EventRetention: time.Hour, DBMaxConns: 10, Replica: replicaID,
		StatusPollInterval: 200 * time.Millisecond, StatusPollTimeout: time.Second,
		Prices: costs.Prices{CPUCoreHour: 0.04, MemoryGiBHour: 0.005, Currency: "EUR"}, CostSampleInterval: time.Hour,
		StatusURLTemplate: statusApps.URL + "/{namespace}/{name}{path}",
		TokenMaxTTL:       testTokenMaxTTL, LoginRateLimit: testLoginRate,
		StreamMaxPerUser: testStreamMax, StreamRecheckInterval: testStreamRecheck,
		StreamWriteTimeout: 2 * time.Second, StreamMaxReplay: testStreamReplay,
		GitHubOIDCIssuer: ghIssuer.URL, GitHubOIDCAudience: ciAudience, GitHubProductionEnvironment: "production",
	}
}

func startReplica(id string, lis net.Listener, publicURL string) (*replica, error) {
	mlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{URL: "http://" + lis.Addr().String(), MetricsURL: "http://" + mlis.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- platformapi.Run(ctx, apiConfig(id, publicURL), cluster.Config, platformapi.Options{
			Listener: lis, MetricsListener: mlis, Version: "test", Log: zap.New(zap.WriteTo(io.Discard)),
		})
	}()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-r.done:
			return nil, fmt.Errorf("replica %s stopped: %w", id, err)
		default:
		}
		resp, err := http.Get(r.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("replica %s not ready after 60s", id)
}

// caller is an API client acting as one user, through a token.
type caller struct {
	base, token string
}

// asUser returns a caller for email with the given grants, through a token
// issued straight into the store.
func asUser(t testing.TB, email string) *caller {
	t.Helper()
	ctx := context.Background()
	u, err := db.EnsureUser(ctx, email, false)
	if err != nil {
		t.Fatal(err)
	}
	auth := &authn.Authenticator{Store: db}
	secret, _, err := auth.IssueToken(ctx, u.ID, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &caller{base: apiA.URL, token: secret}
}

func admin(t testing.TB) *caller {
	t.Helper()
	if _, err := db.EnsureUser(context.Background(), siteAdmin, true); err != nil {
		t.Fatal(err)
	}
	return asUser(t, siteAdmin)
}

// do sends a request and returns the status and body; out, if not nil,
// receives the decoded body.
func (c *caller) do(t testing.TB, method, path string, body any, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// must is do that fails the test unless the status is want.
func (c *caller) must(t testing.TB, want int, method, path string, body any, out any) string {
	t.Helper()
	code, b := c.do(t, method, path, body, out)
	if code != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, code, want, b)
	}
	return b
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

// waitTask waits for a task to reach state.
func waitTask(t testing.TB, c *caller, id int64, state string) store.Task {
	t.Helper()
	var task store.Task
	eventually(t, 30*time.Second, fmt.Sprintf("task %d %s", id, state), func() error {
		c.must(t, 200, "GET", fmt.Sprintf("/api/v1/tasks/%d", id), nil, &task)
		if task.State != state {
			return fmt.Errorf("state %s (%s)", task.State, task.Reason)
		}
		return nil
	})
	return task
}

// statusServer stands in for the apps' Services: simulated nodes run no
// containers, so the status paths are answered here.
type statusServer struct {
	*httptest.Server
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
}

func (s *statusServer) set(nsName string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[nsName] = h
}

func (s *statusServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	s.mu.Lock()
	h := s.handlers[parts[0]+"/"+parts[1]]
	s.mu.Unlock()
	if h == nil || len(parts) < 3 {
		http.NotFound(w, r)
		return
	}
	r.URL.Path = "/" + parts[2]
	h(w, r)
}
