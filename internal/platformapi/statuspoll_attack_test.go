package platformapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/platformapi/statuspoll"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// metadataStandIn plays the cloud metadata service: what it answers must
// never reach a status report.
var isController = true

const metadataSecret = `{"AccessKeyId":"ASIA-METADATA-STAND-IN","SecretAccessKey":"never-shown"}`

func newMetadataStandIn(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(metadataSecret))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func createPolledApp(t *testing.T, c *caller, ns, name string) {
	t.Helper()
	s := spec("registry.example.com/" + name + ":1")
	s.StatusPath = "/status"
	task := createAppSpec(t, c, ns, name, s)
	waitTask(t, c, task.ID, store.TaskDone)
	t.Cleanup(func() {
		c.do(t, "DELETE", "/api/v1/apps/"+ns+"/"+name, nil, nil)
	})
}

type reportView struct {
	Reported *struct {
		OK    bool            `json:"ok"`
		Error string          `json:"error"`
		Body  json.RawMessage `json:"body"`
	} `json:"reported"`
}

// A status path that redirects (here to a stand-in for the cloud metadata
// service) is not followed: the report says the app answered a redirect,
// and never carries what the other host answered.
func TestStatusPollDoesNotFollowRedirects(t *testing.T) {
	c := admin(t)
	meta, metaHits := newMetadataStandIn(t)
	statusApps.set("team-a/ssrf-redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, meta.URL+"/latest/meta-data/iam/security-credentials/role", http.StatusFound)
	})
	createPolledApp(t, c, "team-a", "ssrf-redirect")
	eventually(t, 30*time.Second, "a report", func() error {
		var a reportView
		c.must(t, 200, "GET", "/api/v1/apps/team-a/ssrf-redirect", nil, &a)
		if a.Reported == nil {
			return fmt.Errorf("no report yet")
		}
		if strings.Contains(string(a.Reported.Body), "METADATA") || strings.Contains(a.Reported.Error, "METADATA") {
			t.Fatalf("the report shows the redirect target's answer: %+v %s", a.Reported, a.Reported.Body)
		}
		if a.Reported.OK {
			return fmt.Errorf("report OK: %s", a.Reported.Body)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a few more polls
	if n := metaHits.Load(); n != 0 {
		t.Fatalf("the poller followed the redirect to the metadata stand-in %d times", n)
	}
}

// A tenant creates, before its app exists, a Service with the app's name
// that is not the operator's — an ExternalName to another host, or a
// ClusterIP Service it owns itself: the app is not polled through it.
func TestStatusPollOnlyThroughTheAppsOwnService(t *testing.T) {
	ctx := context.Background()
	c := admin(t)
	meta, metaHits := newMetadataStandIn(t)
	host := strings.TrimPrefix(meta.URL, "http://")
	for _, tc := range []struct {
		name string
		svc  corev1.ServiceSpec
	}{
		{"ssrf-extname", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "metadata.google.internal"}},
		{"ssrf-notowned", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": "mine"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			statusApps.set("team-b/"+tc.name, func(w http.ResponseWriter, r *http.Request) {
				// The stand-in for "whatever the tenant's Service leads to".
				hits.Add(1)
				w.Header().Set("Content-Type", "application/json")
				_, _ = fmt.Fprintf(w, `{"via":%q,"secret":"TENANT-SERVICE-ANSWER"}`, host)
			})
			// The tenant's Service is controlled by an object of its own,
			// so the operator cannot take it over (one controller only),
			// and it carries Plattr's labels, so the API's cache holds it.
			decoy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: tc.name + "-decoy"}}
			if err := kube.Create(ctx, decoy); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = kube.Delete(ctx, decoy) })
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: tc.name,
				Labels:          map[string]string{"app.kubernetes.io/managed-by": "plattr", "platform.internal/app": tc.name},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: decoy.Name, UID: decoy.UID, Controller: &isController}},
			}, Spec: tc.svc}
			if err := kube.Create(ctx, svc); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = kube.Delete(ctx, svc) })
			createPolledApp(t, c, "team-b", tc.name)
			time.Sleep(2 * time.Second) // ten polls
			var a reportView
			c.must(t, 200, "GET", "/api/v1/apps/team-b/"+tc.name, nil, &a)
			if n := hits.Load(); n != 0 {
				t.Fatalf("the app was polled %d times through a Service that is not its own; report %+v", n, a.Reported)
			}
			if a.Reported != nil && (a.Reported.OK || strings.Contains(string(a.Reported.Body), "TENANT-SERVICE")) {
				t.Fatalf("report through a foreign Service: %+v", a.Reported)
			}
			live := &corev1.Service{}
			if err := kube.Get(ctx, client.ObjectKeyFromObject(svc), live); err != nil {
				t.Fatal(err)
			}
			if ref := metav1.GetControllerOf(live); ref == nil || ref.UID != decoy.UID || live.Spec.Type != tc.svc.Type {
				t.Fatalf("the tenant's Service changed hands: %s %+v", live.Spec.Type, live.OwnerReferences)
			}
		})
	}
	if n := metaHits.Load(); n != 0 {
		t.Fatalf("metadata stand-in reached %d times", n)
	}
}

// An app whose status answer changes on every poll (a counter and 16 KiB
// of padding) costs a bounded number of rows and bytes: bodies are stored
// at most once per debounce window, and the change feed carries a hash,
// never the body.
func TestStatusPollGrowthIsBounded(t *testing.T) {
	ctx := context.Background()
	c := admin(t)
	var n atomic.Int64
	pad := strings.Repeat("x", 16<<10)
	statusApps.set("team-c/chatty", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"n":%d,"pad":%q}`, n.Add(1), pad)
	})
	// Only this run's events count (an earlier run's app left its deletion).
	since, err := db.LastEventID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	createPolledApp(t, c, "team-c", "chatty")
	eventually(t, 30*time.Second, "first report", func() error {
		var a reportView
		c.must(t, 200, "GET", "/api/v1/apps/team-c/chatty", nil, &a)
		if a.Reported == nil || !a.Reported.OK {
			return fmt.Errorf("%+v", a.Reported)
		}
		return nil
	})
	start := n.Load()
	time.Sleep(3 * time.Second) // fifteen polls, each a new body
	polls := n.Load() - start
	if polls < 5 {
		t.Fatalf("only %d polls in 3s", polls)
	}
	var events, eventBytes int64
	if err := db.Pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(octet_length(data::text)), 0) FROM events
		WHERE kind = 'status' AND namespace = 'team-c' AND app = 'chatty' AND id > $1`, since).Scan(&events, &eventBytes); err != nil {
		t.Fatal(err)
	}
	var reportBytes int64
	if err := db.Pool.QueryRow(ctx, `SELECT coalesce(sum(pg_column_size(r.*)), 0) FROM status_reports r
		WHERE namespace = 'team-c' AND app = 'chatty'`).Scan(&reportBytes); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d polls of changing bodies: %d status events, %d bytes in events, %d bytes of reports", polls, events, eventBytes, reportBytes)
	if events > 2 {
		t.Fatalf("%d polls of a changing body wrote %d status events (%d bytes): want at most 2 in the debounce window", polls, events, eventBytes)
	}
	if eventBytes > 2<<10 {
		t.Fatalf("status events carry %d bytes: want the body's hash, not the body", eventBytes)
	}
}

// Without a URL template the poller dials the ClusterIP of the app's own
// Service (the Dialer here carries that connection to a local server, as
// kube-proxy would to a pod), with the Service's name as Host; an app
// whose Service is a tenant's is never dialled; polls in flight stay under
// half the store's pool.
func TestStatusPollDialsTheOwnServiceClusterIP(t *testing.T) {
	ctx := context.Background()
	c := admin(t)
	var mu sync.Mutex
	var hosts []string
	pod := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer pod.Close()
	decoy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team-c", Name: "dial-foreign-decoy"}}
	if err := kube.Create(ctx, decoy); err != nil {
		t.Fatal(err)
	}
	defer kube.Delete(ctx, decoy)
	foreign := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-c", Name: "dial-foreign",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: decoy.Name, UID: decoy.UID, Controller: &isController}}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"a": "b"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	if err := kube.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	defer kube.Delete(ctx, foreign)
	createPolledApp(t, c, "team-c", "dialled")
	createPolledApp(t, c, "team-c", "dial-foreign")
	own := &corev1.Service{}
	eventually(t, 60*time.Second, "the app's Service", func() error {
		return kube.Get(ctx, client.ObjectKey{Namespace: "team-c", Name: "dialled"}, own)
	})
	if err := kube.Get(ctx, client.ObjectKeyFromObject(foreign), foreign); err != nil {
		t.Fatal(err)
	}
	var dialled []string
	small, err := store.Open(ctx, pg.URL(), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	p := &statuspoll.Poller{Apps: kube, Services: kube, Store: small, Interval: time.Hour, Timeout: time.Second, Parallel: 32,
		Log: logr.Discard(),
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dialled = append(dialled, addr)
			mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, network, pod.Listener.Addr().String())
		}}
	if n := p.Concurrency(); n != 2 {
		t.Fatalf("%d polls in flight with a pool of 4, want 2", n)
	}
	if err := p.PollAll(ctx); err != nil {
		t.Fatal(err)
	}
	want := net.JoinHostPort(own.Spec.ClusterIP, "80")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(dialled, want) {
		t.Fatalf("dialled %v, want the Service's ClusterIP %s among them", dialled, want)
	}
	if slices.Contains(dialled, net.JoinHostPort(foreign.Spec.ClusterIP, "80")) {
		t.Fatalf("dialled the tenant's Service %s: %v", foreign.Spec.ClusterIP, dialled)
	}
	if !slices.Contains(hosts, "dialled.team-c.svc/status") {
		t.Fatalf("requests %v, want Host dialled.team-c.svc and /status", hosts)
	}
}
