package chartsource_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/charts/ext"
	"github.com/plattr/plattr/internal/controller/chartsource"
)

func ready(t *testing.T, name string) *metav1.Condition {
	t.Helper()
	src := &platformv1.ChartSource{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Name: name}, src); err != nil {
		t.Fatal(err)
	}
	if src.Status.ObservedGeneration != src.Generation {
		return nil
	}
	return meta.FindStatusCondition(src.Status.Conditions, platformv1.ConditionReady)
}

// TestPushedChartsAreDiscoveredWithinOneInterval: charts pushed with
// `helm push --plain-http` are recorded, each once per digest, within one
// interval, with their parsed extensions; a chart whose values.ui.json
// does not parse is recorded with the error; an image beside them is
// ignored; then scans that find nothing new write nothing.
func TestPushedChartsAreDiscoveredWithinOneInterval(t *testing.T) {
	const interval = 5 * time.Second
	src := &platformv1.ChartSource{
		ObjectMeta: metav1.ObjectMeta{Name: "local"},
		Spec: platformv1.ChartSourceSpec{
			OCI:      &platformv1.ChartSourceOCI{Registry: regHost, PlainHTTP: true, Prefix: "charts"},
			Interval: &metav1.Duration{Duration: interval},
		},
	}
	if err := k8s.Create(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the first scan", func() (bool, string) {
		c := ready(t, "local")
		return c != nil && c.Status == metav1.ConditionTrue, fmt.Sprint(c)
	})

	// An image in the same repository tree: not a chart.
	img, _ := random.Image(512, 1)
	ref, _ := name.ParseReference(regHost+"/charts/not-a-chart:1.0.0", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	pushed := time.Now()
	pushChart(t, "webapp", "0.1.0", "charts")
	pushChart(t, "broken", "0.1.0", "charts")
	// Outside the prefix: not this source's.
	pushChart(t, "webapp", "9.9.9", "elsewhere")

	var web, broken *platformv1.ChartVersion
	waitFor(t, interval+20*time.Second, "both charts recorded", func() (bool, string) {
		web, broken = nil, nil
		for _, cv := range versionsOf(t, "local") {
			switch cv.Spec.Chart {
			case "webapp":
				web = cv.DeepCopy()
			case "broken":
				broken = cv.DeepCopy()
			}
		}
		return web != nil && broken != nil && (web.Status.Extensions != nil || web.Status.Error != "") && broken.Status.Error != "", fmt.Sprint(web, broken)
	})
	latency := time.Since(pushed)
	t.Logf("discovery latency (push to ChartVersion, interval %s): %s", interval, latency.Round(10*time.Millisecond))
	if latency > interval+10*time.Second {
		t.Errorf("discovered after %s, more than one interval (%s) and the push's own time", latency, interval)
	}

	if web.Status.Error != "" {
		t.Fatalf("webapp: %s", web.Status.Error)
	}
	if web.Spec.Version != "0.1.0" || web.Spec.AppVersion != "1.0.0" || web.Spec.Repository != "charts/webapp" || web.Spec.Registry != regHost ||
		!strings.HasPrefix(web.Spec.Digest, "sha256:") || web.Spec.Size == 0 {
		t.Errorf("webapp spec = %+v", web.Spec)
	}
	if web.Spec.Git == nil || web.Spec.Git.Commit != "0123456789abcdef" || web.Spec.Git.Provider != "github" {
		t.Errorf("git = %+v", web.Spec.Git)
	}
	if web.Name != chartsource.VersionName("local", "charts/webapp", web.Spec.Digest) || web.Labels[platformv1.LabelChart] != "webapp" {
		t.Errorf("name %s, labels %v", web.Name, web.Labels)
	}
	if web.Status.Format != "root (values-ui v0, actions v0, features v0)" {
		t.Errorf("format = %q", web.Status.Format)
	}
	var e ext.Extensions
	if err := json.Unmarshal(web.Status.Extensions.Raw, &e); err != nil {
		t.Fatal(err)
	}
	if e.UISchema.Input("greeting") == nil || !e.UISchema.Input("apiKey").Sensitive || !e.Features.Ingress.Enabled || e.Actions[0].ID != "purge" {
		t.Errorf("extensions = %+v", e)
	}
	if !strings.Contains(broken.Status.Error, "values.ui.json") || !strings.Contains(broken.Status.Error, "slider") {
		t.Errorf("broken's error = %q, want it to name values.ui.json and the bad type", broken.Status.Error)
	}
	for _, cv := range versionsOf(t, "local") {
		if cv.Spec.Repository != "charts/webapp" && cv.Spec.Repository != "charts/broken" {
			t.Errorf("recorded %s, which is not a chart of the source", cv.Spec.Repository)
		}
	}

	// Steady state: two more scans find nothing new and write nothing.
	before := calls.get(&calls.scans, "local")
	w0 := totalWrites()
	waitFor(t, 3*interval+20*time.Second, "two more scans", func() (bool, string) {
		n := calls.get(&calls.scans, "local")
		return n >= before+2, fmt.Sprintf("%d scans", n-before)
	})
	if w := totalWrites() - w0; w != 0 {
		t.Errorf("scans that found nothing new made %d writes; want none (%v)", w, calls.writes)
	}
	if n := len(versionsOf(t, "local")); n != 2 {
		t.Errorf("%d ChartVersions, want 2 (one per digest)", n)
	}

	// A new version is found; the source counts it.
	pushChart(t, "webapp", "0.2.0", "charts")
	waitFor(t, interval+20*time.Second, "0.2.0 recorded", func() (bool, string) {
		got := &platformv1.ChartSource{}
		_ = k8s.Get(t.Context(), client.ObjectKey{Name: "local"}, got)
		return len(versionsOf(t, "local")) == 3 && got.Status.Charts == 3, fmt.Sprint(got.Status.Charts)
	})
}

func totalWrites() int {
	calls.mu.Lock()
	defer calls.mu.Unlock()
	n := 0
	for _, v := range calls.writes {
		n += v
	}
	return n
}

// TestHelmRepositoryETagAndOnDemandScan: a classic repository's index is
// read again only when its ETag changes; the annotation scans at once.
func TestHelmRepositoryETagAndOnDemandScan(t *testing.T) {
	tgz := pushChart(t, "webapp", "0.3.0", "etag-test")
	archive, err := os.ReadFile(tgz)
	if err != nil {
		t.Fatal(err)
	}
	var indexReads, notModified, pulls atomic.Int32
	const etag = `"v1"`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			if r.Header.Get("If-None-Match") == etag {
				notModified.Add(1)
				w.WriteHeader(http.StatusNotModified)
				return
			}
			indexReads.Add(1)
			w.Header().Set("ETag", etag)
			fmt.Fprintf(w, "apiVersion: v1\nentries:\n  webapp:\n    - name: webapp\n      version: 0.3.0\n      appVersion: \"1.0.0\"\n      urls: [charts/webapp-0.3.0.tgz]\n")
		case "/charts/webapp-0.3.0.tgz":
			pulls.Add(1)
			_, _ = w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	src := &platformv1.ChartSource{
		ObjectMeta: metav1.ObjectMeta{Name: "classic"},
		Spec:       platformv1.ChartSourceSpec{Helm: &platformv1.ChartSourceHelm{URL: srv.URL}, Interval: &metav1.Duration{Duration: time.Hour}},
	}
	if err := k8s.Create(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the chart recorded", func() (bool, string) {
		v := versionsOf(t, "classic")
		return len(v) == 1 && v[0].Status.Extensions != nil, fmt.Sprint(v)
	})
	cv := versionsOf(t, "classic")[0]
	if cv.Spec.Chart != "webapp" || cv.Spec.URL != srv.URL+"/charts/webapp-0.3.0.tgz" || !strings.HasPrefix(cv.Spec.Digest, "sha256:") {
		t.Errorf("spec = %+v", cv.Spec)
	}

	// On demand: the annotation scans at once (the interval is an hour).
	for i, want := range []string{"1", "2"} {
		patch := client.MergeFrom(src.DeepCopy())
		src.Annotations = map[string]string{platformv1.AnnotationScanRequestedAt: want}
		if err := k8s.Patch(t.Context(), src, patch); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the requested scan", func() (bool, string) {
			got := &platformv1.ChartSource{}
			_ = k8s.Get(t.Context(), client.ObjectKey{Name: "classic"}, got)
			return got.Status.ScanRequestedAt == want && notModified.Load() == int32(i+1), got.Status.ScanRequestedAt
		})
	}
	if indexReads.Load() != 1 || pulls.Load() != 1 {
		t.Errorf("index read %d times, archive pulled %d times; want 1 and 1 (the ETag held)", indexReads.Load(), pulls.Load())
	}
}

// TestSizeCapAndMissingCredentials: a chart over spec.maxChartSize is
// recorded with the error and never pulled whole; a missing Secret is
// named in Ready.
func TestSizeCapAndMissingCredentials(t *testing.T) {
	pushChart(t, "webapp", "0.4.0", "capped")
	small := resource.MustParse("100")
	capped := &platformv1.ChartSource{
		ObjectMeta: metav1.ObjectMeta{Name: "capped"},
		Spec:       platformv1.ChartSourceSpec{OCI: &platformv1.ChartSourceOCI{Registry: regHost, PlainHTTP: true, Repositories: []string{"capped/webapp"}}, MaxChartSize: &small},
	}
	locked := &platformv1.ChartSource{
		ObjectMeta: metav1.ObjectMeta{Name: "locked"},
		Spec:       platformv1.ChartSourceSpec{OCI: &platformv1.ChartSourceOCI{Registry: regHost, PlainHTTP: true}, SecretRef: "registry-creds"},
	}
	for _, s := range []*platformv1.ChartSource{capped, locked} {
		if err := k8s.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "the capped chart recorded", func() (bool, string) {
		v := versionsOf(t, "capped")
		return len(v) == 1 && v[0].Status.Error != "", fmt.Sprint(v)
	})
	if cv := versionsOf(t, "capped")[0]; !strings.Contains(cv.Status.Error, "over the source's cap of 100") || cv.Status.Extensions != nil {
		t.Errorf("status = %+v", cv.Status)
	}
	waitFor(t, 30*time.Second, "Ready names the Secret", func() (bool, string) {
		c := ready(t, "locked")
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == platformv1.ReasonCredentialsMissing &&
			strings.Contains(c.Message, platformNamespace+"/registry-creds"), fmt.Sprint(c)
	})
	// The Secret appearing (and a spec change bringing the source back)
	// mends it.
	if err := k8s.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "registry-creds", Namespace: platformNamespace},
		StringData: map[string]string{"username": "u", "password": "p"}}); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(locked.DeepCopy())
	locked.Annotations = map[string]string{platformv1.AnnotationScanRequestedAt: "now"}
	if err := k8s.Patch(t.Context(), locked, patch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "Ready once the Secret exists", func() (bool, string) {
		c := ready(t, "locked")
		return c != nil && c.Status == metav1.ConditionTrue, fmt.Sprint(c)
	})
}

// TestAdmissionNamesTheField: what the CRD refuses, it refuses naming the
// field.
func TestAdmissionNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec platformv1.ChartSourceSpec
		want string
	}{
		{"both kinds", platformv1.ChartSourceSpec{OCI: &platformv1.ChartSourceOCI{Registry: "r.example.com"}, Helm: &platformv1.ChartSourceHelm{URL: "https://c.example.com"}}, "exactly one of spec.oci"},
		{"neither", platformv1.ChartSourceSpec{}, "exactly one of spec.oci"},
		{"interval", platformv1.ChartSourceSpec{OCI: &platformv1.ChartSourceOCI{Registry: "r.example.com"}, Interval: &metav1.Duration{Duration: time.Second}}, "spec.interval must be at least 5s"},
		{"registry with a scheme", platformv1.ChartSourceSpec{OCI: &platformv1.ChartSourceOCI{Registry: "https://r.example.com"}}, "spec.oci.registry"},
		{"size", platformv1.ChartSourceSpec{OCI: &platformv1.ChartSourceOCI{Registry: "r.example.com"}, MaxChartSize: ptrQ("1Gi")}, "spec.maxChartSize must be at most 100Mi"},
		{"helm url", platformv1.ChartSourceSpec{Helm: &platformv1.ChartSourceHelm{URL: "ftp://c.example.com"}}, "spec.helm.url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(t.Context(), &platformv1.ChartSource{ObjectMeta: metav1.ObjectMeta{Name: "bad-" + strings.ReplaceAll(tc.name, " ", "-")}, Spec: tc.spec})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	rel := &platformv1.ChartRelease{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name", Namespace: "default"},
		Spec: platformv1.ChartReleaseSpec{Chart: platformv1.ChartRef{Source: "local", Repository: "charts/webapp", Digest: "md5:x"}}}
	err := k8s.Create(t.Context(), rel)
	if err == nil || !strings.Contains(err.Error(), "spec.chart.digest") {
		t.Errorf("a ChartRelease with a bad digest: %v", err)
	}
}

func ptrQ(s string) *resource.Quantity {
	q := resource.MustParse(s)
	return &q
}
