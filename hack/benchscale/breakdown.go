package main

// Where an app's time goes during the burst: the operator's histograms
// scraped before and after it, subtracted, and printed per app — queue
// wait, reconcile, the kit's phases (plattr_reconcile_phase_duration_seconds,
// once the controllers record it), each backend call and step, each apply
// by kind, each API request by resource — and the operator's requests per
// app by resource and verb.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the Prometheus text format (what /metrics serves).
func parseMetrics(body string) []sample {
	var out []sample
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s, ok := parseLine(line)
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func parseLine(line string) (sample, bool) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, false
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, ", ")
			if line == "" {
				return s, false
			}
			if line[0] == '}' {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return s, false
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			j := 0
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
					switch line[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(line[j])
					}
					continue
				}
				val.WriteByte(line[j])
			}
			if j >= len(line) {
				return s, false
			}
			s.labels[key] = val.String()
			line = line[j+1:]
		}
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return s, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, false
	}
	s.value = v
	return s, true
}

// histogram is one series' buckets (upper bound → cumulative count), sum
// and count.
type histogram struct {
	labels     map[string]string
	buckets    map[float64]float64
	sum, count float64
}

// histograms collects the series of histogram name, keyed by their labels
// (le aside).
func histograms(samples []sample, name string) map[string]*histogram {
	out := map[string]*histogram{}
	get := func(s sample) *histogram {
		labels := map[string]string{}
		for k, v := range s.labels {
			if k != "le" {
				labels[k] = v
			}
		}
		key := labelKey(labels)
		h := out[key]
		if h == nil {
			h = &histogram{labels: labels, buckets: map[float64]float64{}}
			out[key] = h
		}
		return h
	}
	for _, s := range samples {
		switch s.name {
		case name + "_bucket":
			le, err := strconv.ParseFloat(s.labels["le"], 64)
			if err == nil {
				get(s).buckets[le] = s.value
			}
		case name + "_sum":
			get(s).sum = s.value
		case name + "_count":
			get(s).count = s.value
		}
	}
	return out
}

func labelKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q,", k, labels[k])
	}
	return b.String()
}

// minus is h with what before already counted taken away: the burst's share.
func (h *histogram) minus(before *histogram) *histogram {
	d := &histogram{labels: h.labels, buckets: map[float64]float64{}, sum: h.sum, count: h.count}
	for le, v := range h.buckets {
		d.buckets[le] = v
	}
	if before != nil {
		d.sum -= before.sum
		d.count -= before.count
		for le, v := range before.buckets {
			d.buckets[le] -= v
		}
	}
	return d
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linear within the bucket it falls in.
func (h *histogram) quantile(q float64) float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	les := make([]float64, 0, len(h.buckets))
	for le := range h.buckets {
		les = append(les, le)
	}
	slices.Sort(les)
	rank := q * h.count
	lower, below := 0.0, 0.0
	for _, le := range les {
		c := h.buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return lower // beyond the last bound: its lower edge
			}
			if c == below {
				return le
			}
			return lower + (le-lower)*(rank-below)/(c-below)
		}
		lower, below = le, c
	}
	return lower
}

// phase is one row of the breakdown: a histogram's series whose labels
// match, named by some of them.
type phase struct {
	title  string
	metric string
	match  func(map[string]string) bool
	name   func(map[string]string) string
}

func labelIs(key, value string) func(map[string]string) bool {
	return func(l map[string]string) bool { return l[key] == value }
}

// phases are what the breakdown prints, in reconcile order. A metric the
// operator does not serve (the kit's phase histogram before it lands)
// prints nothing.
var phases = []phase{
	{"queue wait (workqueue)", "workqueue_queue_duration_seconds", labelIs("name", "application"), func(map[string]string) string { return "application" }},
	{"reconcile (whole)", "controller_runtime_reconcile_time_seconds", labelIs("controller", "application"), func(map[string]string) string { return "application" }},
	{"reconcile phase (kit)", "plattr_reconcile_phase_duration_seconds", labelIs("controller", "application"), func(l map[string]string) string { return l["phase"] }},
	{"backend call", "plattr_backend_call_duration_seconds", nil, func(l map[string]string) string { return l["backend"] + " " + l["op"] }},
	{"backend step (nested)", "plattr_backend_step_duration_seconds", nil, func(l map[string]string) string { return l["backend"] + " " + l["step"] }},
	{"apply (compare + SSA)", "plattr_apply_duration_seconds", nil, func(l map[string]string) string { return l["kind"] + " " + l["result"] }},
	{"API request", "plattr_kube_request_duration_seconds", nil, func(l map[string]string) string {
		return strings.TrimSuffix(l["resource"]+"/"+l["subresource"], "/") + " " + l["verb"]
	}},
	{"client-side throttling", "rest_client_rate_limiter_duration_seconds", nil, func(l map[string]string) string { return l["verb"] }},
}

// breakdown prints the burst's share of each phase, per app.
func breakdown(before, after string, apps int) string {
	b, a := parseMetrics(before), parseMetrics(after)
	var out strings.Builder
	fmt.Fprintf(&out, "\nwhere the time goes during the burst (operator's /metrics, after minus before; per app = total / %d apps)\n", apps)
	fmt.Fprintf(&out, "  %-24s %-52s %9s %9s %9s %10s %9s\n", "phase", "series", "calls/app", "p50", "p99", "total s", "s/app")
	for _, p := range phases {
		hb, ha := histograms(b, p.metric), histograms(a, p.metric)
		type row struct {
			name string
			h    *histogram
		}
		var rows []row
		for key, h := range ha {
			if p.match != nil && !p.match(h.labels) {
				continue
			}
			d := h.minus(hb[key])
			if d.count <= 0 {
				continue
			}
			rows = append(rows, row{p.name(h.labels), d})
		}
		slices.SortFunc(rows, func(x, y row) int { return -cmpFloat(x.h.sum, y.h.sum) })
		for _, r := range rows {
			fmt.Fprintf(&out, "  %-24s %-52s %9.2f %9s %9s %10.2f %9s\n", p.title, r.name,
				r.h.count/float64(apps), seconds(r.h.quantile(.5)), seconds(r.h.quantile(.99)), r.h.sum, seconds(r.h.sum/float64(apps)))
		}
	}
	out.WriteString(requestTable(b, a, apps))
	return out.String()
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// seconds prints a duration in seconds with a unit that fits.
func seconds(s float64) string {
	switch {
	case math.IsNaN(s):
		return "-"
	case s < 0.001:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.1fms", s*1e3)
	}
	return fmt.Sprintf("%.2fs", s)
}

var writeVerbs = map[string]bool{"create": true, "update": true, "patch": true, "apply": true, "delete": true, "deletecollection": true}

// requestTable prints the operator's requests per app during the burst by
// resource and verb (plattr_kube_requests_total), writes first.
func requestTable(before, after []sample, apps int) string {
	count := func(samples []sample) map[string]float64 {
		m := map[string]float64{}
		for _, s := range samples {
			if s.name == "plattr_kube_requests_total" {
				m[strings.TrimSuffix(s.labels["resource"]+"/"+s.labels["subresource"], "/")+" "+s.labels["verb"]] += s.value
			}
		}
		return m
	}
	b, a := count(before), count(after)
	type row struct {
		key   string
		write bool
		n     float64
	}
	var rows []row
	var writes, reads float64
	for key, v := range a {
		n := v - b[key]
		if n <= 0 {
			continue
		}
		verb := key[strings.LastIndexByte(key, ' ')+1:]
		w := writeVerbs[verb]
		if w {
			writes += n
		} else {
			reads += n
		}
		rows = append(rows, row{key, w, n})
	}
	if len(rows) == 0 {
		return "  (no plattr_kube_requests_total: an operator built before it counted its requests)\n"
	}
	slices.SortFunc(rows, func(x, y row) int {
		if x.write != y.write {
			if x.write {
				return -1
			}
			return 1
		}
		return -cmpFloat(x.n, y.n)
	})
	var out strings.Builder
	fmt.Fprintf(&out, "\noperator requests per app during the burst (plattr_kube_requests_total): writes %.2f, reads %.2f\n", writes/float64(apps), reads/float64(apps))
	for _, r := range rows {
		kind := "read "
		if r.write {
			kind = "write"
		}
		fmt.Fprintf(&out, "  %s  %-56s %7.2f per app  (%.0f)\n", kind, r.key, r.n/float64(apps), r.n)
	}
	return out.String()
}
