// Package metrics defines the operator's Prometheus metrics (docs/OPERATOR.md#metrics) and
// registers them with controller-runtime's registry, served on /metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// ApplicationPhase is 1 for an Application's current phase and 0 for the others.
	ApplicationPhase = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "plattr_application_phase",
		Help: "Current phase of each Application: 1 for the phase it is in, 0 for the others.",
	}, []string{"name", "namespace", "phase"})

	// ReconcileTotal counts reconciles by outcome (success or failure).
	ReconcileTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plattr_reconcile_total",
		Help: "Reconciliations of Applications, by result (success or failure).",
	}, []string{"name", "namespace", "result"})

	// ProvisioningDuration measures the time from apply to Running.
	ProvisioningDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "plattr_provisioning_duration_seconds",
		Help:    "Time from an Application's creation or spec change to its phase turning Running.",
		Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800},
	})

	// PreviewEnvironmentsExpired counts previews past their expiresAt that
	// still exist: the sweep deletes them within PREVIEW_SWEEP_INTERVAL, so
	// one that stays points at a stuck sweep or a stuck finalizer.
	PreviewEnvironmentsExpired = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "plattr_preview_environments_expired",
		Help: "PreviewEnvironments past their expiresAt that still exist.",
	})

	// BackendUp is 1 while the operator reaches a backing service
	// (database, objectstore, identity) and 0 while it does not.
	BackendUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "plattr_backend_up",
		Help: "1 if the operator's last check reached the backing service, else 0.",
	}, []string{"backend"})

	// ReconcilePhaseDuration times each phase of a reconcile (a capability,
	// the status write, the finalizers), per controller: where an object's
	// time goes during a burst.
	ReconcilePhaseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "plattr_reconcile_phase_duration_seconds",
		Help:    "Time one phase of one reconcile took (database, storage, auth, workload, ingress, namespace, status, finalizers, cleanup, …), by controller.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"controller", "phase"})

	// StatusWrites counts status writes, per controller; a reconcile that
	// changes nothing makes none.
	StatusWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plattr_status_writes_total",
		Help: "Status writes to the API server, by controller.",
	}, []string{"controller"})

	// FinalizerWrites counts writes of finalizers (and owner references), per controller.
	FinalizerWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plattr_finalizer_writes_total",
		Help: "Writes of finalizers and owner references to the API server, by controller.",
	}, []string{"controller"})

	// PreviewEnvironmentsActive is the number of PreviewEnvironments that exist.
	PreviewEnvironmentsActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "plattr_preview_environments_active",
		Help: "PreviewEnvironments that currently exist.",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(ApplicationPhase, ReconcileTotal, ProvisioningDuration, PreviewEnvironmentsActive,
		PreviewEnvironmentsExpired, BackendUp, ReconcilePhaseDuration, StatusWrites, FinalizerWrites)
}

// Phases lists every phase, so SetPhase can zero the ones an app is not in.
var Phases = []string{"Pending", "Provisioning", "Running", "Failed", "Terminating"}

// SetPhase records an Application's phase.
func SetPhase(namespace, name, phase string) {
	for _, p := range Phases {
		v := 0.0
		if p == phase {
			v = 1
		}
		ApplicationPhase.WithLabelValues(name, namespace, p).Set(v)
	}
}

// CountReconcile counts one reconcile of an Application.
func CountReconcile(namespace, name, result string) {
	ReconcileTotal.WithLabelValues(name, namespace, result).Inc()
}

// ForgetApplication removes every series of a deleted Application, so
// short-lived apps (previews) do not grow the metrics without bound.
func ForgetApplication(namespace, name string) {
	labels := prometheus.Labels{"name": name, "namespace": namespace}
	ApplicationPhase.DeletePartialMatch(labels)
	ReconcileTotal.DeletePartialMatch(labels)
}
