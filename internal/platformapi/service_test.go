package platformapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The cluster report and the service endpoints answer with real figures.
func TestClustersAndServiceEndpoints(t *testing.T) {
	c := admin(t)
	var clusters []struct {
		Name, Version, Health string
		Nodes, ReadyNodes     int
	}
	c.must(t, 200, "GET", "/api/v1/clusters", nil, &clusters)
	if len(clusters) != 1 || !strings.HasPrefix(clusters[0].Version, "v1.") || clusters[0].Nodes < 1 ||
		clusters[0].ReadyNodes != clusters[0].Nodes || clusters[0].Health != "ok" {
		t.Fatalf("clusters = %+v", clusters)
	}
	for path, want := range map[string]string{
		"/healthz":         "ok",
		"/readyz":          "ok",
		"metrics:/metrics": "plattr_api_request_duration_seconds_bucket{code=\"200\",route=\"GET /api/v1/clusters\"",
		"/openapi.json":    `"/api/v1/tenants"`,
	} {
		base := apiA.URL
		if p, ok := strings.CutPrefix(path, "metrics:"); ok {
			base, path = apiA.MetricsURL, p // its own listener (METRICS_ADDR)
		}
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: HTTP %d, want %q in the body", path, resp.StatusCode, want)
		}
	}
	if code, _ := (&caller{base: apiA.URL}).do(t, "GET", "/api/v1/clusters", nil, nil); code != 401 {
		t.Fatalf("clusters without a token: HTTP %d", code)
	}
}
