package main

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The breakdown reads what client_golang serves: a histogram observed
// before and during the burst yields the burst's share only, with
// quantiles interpolated inside their bucket as histogram_quantile does.
func TestBreakdownSubtractsTheBurstsShare(t *testing.T) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "plattr_backend_call_duration_seconds", Buckets: []float64{.01, .1, 1},
	}, []string{"backend", "op"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	text := func() string {
		t.Helper()
		body, err := scrape(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	h.WithLabelValues("database", "ping").Observe(5) // before: not the burst's
	before := text()
	for range 100 {
		h.WithLabelValues("database", "ensure").Observe(0.05) // in (0.01, 0.1]
	}
	h.WithLabelValues("database", "ping").Observe(0.005)
	after := text()

	hb := histograms(parseMetrics(before), "plattr_backend_call_duration_seconds")
	ha := histograms(parseMetrics(after), "plattr_backend_call_duration_seconds")
	var ensure, ping *histogram
	for key, hh := range ha {
		d := hh.minus(hb[key])
		switch hh.labels["op"] {
		case "ensure":
			ensure = d
		case "ping":
			ping = d
		}
	}
	if ensure == nil || ensure.count != 100 || math.Abs(ensure.sum-5) > 1e-9 {
		t.Fatalf("ensure during the burst: %+v, want 100 calls, 5 s", ensure)
	}
	if p50 := ensure.quantile(.5); p50 <= .01 || p50 > .1 {
		t.Errorf("p50 %v, want inside the (0.01, 0.1] bucket", p50)
	}
	if ping == nil || ping.count != 1 || ping.sum > 0.01 {
		t.Errorf("ping during the burst: %+v, want the one 5 ms call (the 5 s one came before)", ping)
	}
	out := breakdown(before, after, 100)
	if !strings.Contains(out, "database ensure") || !strings.Contains(out, "database ping") {
		t.Errorf("breakdown lacks the rows:\n%s", out)
	}
}

func TestParseLineReadsEscapedLabels(t *testing.T) {
	s, ok := parseLine(`x_total{path="/a\"b",verb="GET"} 3.5`)
	if !ok || s.name != "x_total" || s.labels["path"] != `/a"b` || s.labels["verb"] != "GET" || s.value != 3.5 {
		t.Errorf("parsed %+v, %v", s, ok)
	}
	if _, ok := parseLine(`x_total{path="/a} 3`); ok {
		t.Error("an unterminated label value parsed")
	}
}
