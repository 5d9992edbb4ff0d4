package kit

import (
	"context"
	"time"

	"github.com/plattr/plattr/internal/metrics"
)

// Time starts timing one phase of a reconcile (a capability, the status
// write, the finalizers) and returns what stops it: the duration goes to
// plattr_reconcile_phase_duration_seconds{controller, phase}, so a burst
// shows where an object's time goes.
//
//	defer k.Time("database")()
func (k *Kit[T]) Time(phase string) func() {
	start := time.Now()
	return func() {
		metrics.ReconcilePhaseDuration.WithLabelValues(k.Name, phase).Observe(time.Since(start).Seconds())
	}
}

// Phase is one named step of a reconcile; it records its outcome in the
// scope S (Kit.Record) rather than returning it, so a failing phase does
// not stop the independent ones after it.
type Phase[S any] struct {
	Name string
	Run  func(context.Context, S)
}

// RunPhases runs the phases in order, each timed (Time).
func RunPhases[T Object, S any](ctx context.Context, k *Kit[T], s S, phases ...Phase[S]) {
	for _, p := range phases {
		stop := k.Time(p.Name)
		p.Run(ctx, s)
		stop()
	}
}
