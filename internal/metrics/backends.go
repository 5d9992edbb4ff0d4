package metrics

// Where a reconcile's time goes outside the controllers: each call to a
// backing service (PostgreSQL, the object store), each apply of a child,
// and each request the operator sends the API server. make bench-scale
// reads them from /metrics and prints a breakdown per app of a burst.

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// callBuckets span a cached catalog read (~1 ms) to a call stuck behind a
// lock or a slow backend (30 s).
var callBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

var (
	// BackendCallDuration times each call of a backing service's client
	// (internal/database, internal/objectstore), whether it succeeds or not.
	BackendCallDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "plattr_backend_call_duration_seconds",
		Help:    "Duration of the operator's calls to a backing service (database, objectstore), by backend and operation.",
		Buckets: callBuckets,
	}, []string{"backend", "op"})

	// BackendStepDuration times the steps inside a call (the catalog read,
	// the transaction, the wait for the shared-ACL lock): they nest in
	// plattr_backend_call_duration_seconds, so the two are not added up.
	BackendStepDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "plattr_backend_step_duration_seconds",
		Help:    "Duration of the steps inside a backing service call (nested in plattr_backend_call_duration_seconds), by backend and step.",
		Buckets: callBuckets,
	}, []string{"backend", "step"})

	// ApplyDuration times capability.Apply per child kind: the reads that
	// compare what Plattr owns and, when it differs, the server-side apply.
	// result is unchanged (nothing written), applied or error.
	ApplyDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "plattr_apply_duration_seconds",
		Help:    "Duration of applying one child object (compare, then server-side apply if it differs), by kind and result (unchanged, applied, error).",
		Buckets: callBuckets,
	}, []string{"kind", "result"})

	// KubeRequests counts the operator's requests to the API server by
	// resource and verb (get, list, watch, create, update, patch, apply,
	// delete), from a transport wrapper (CountKubeRequests).
	KubeRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plattr_kube_requests_total",
		Help: "Requests the operator sent the Kubernetes API server, by resource, subresource and verb (apply is a server-side apply patch).",
	}, []string{"resource", "subresource", "verb"})

	// KubeRequestDuration times the same requests (but watches) until the
	// response's headers: a status write's or an apply's round trip.
	KubeRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "plattr_kube_request_duration_seconds",
		Help:    "Duration of the operator's requests to the Kubernetes API server (watches excluded), by resource, subresource and verb.",
		Buckets: callBuckets,
	}, []string{"resource", "subresource", "verb"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(BackendCallDuration, BackendStepDuration, ApplyDuration, KubeRequests, KubeRequestDuration)
}

// Backend names, as in the backend label.
const (
	BackendDatabase    = "database"
	BackendObjectStore = "objectstore"
)

// TimeCall starts timing one backend call; the returned func records it:
//
//	defer metrics.TimeCall(metrics.BackendDatabase, "ensure")()
func TimeCall(backend, op string) func() {
	start := time.Now()
	return func() { BackendCallDuration.WithLabelValues(backend, op).Observe(time.Since(start).Seconds()) }
}

// TimeStep starts timing one step inside a backend call.
func TimeStep(backend, step string) func() {
	start := time.Now()
	return func() { BackendStepDuration.WithLabelValues(backend, step).Observe(time.Since(start).Seconds()) }
}
