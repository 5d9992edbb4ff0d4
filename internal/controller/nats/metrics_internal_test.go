package nats

import (
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// reconcileCount is controller-runtime's count of a controller's
// reconciles, every result.
func reconcileCount(controller string) float64 {
	families, _ := ctrlmetrics.Registry.Gather()
	n := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
