package application_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// BenchmarkApplyToRunning measures the time from creating a database+workload
// Application to its phase Running (2 replicas Available), against the real
// control plane and PostgreSQL:
//
//	go test -run '^$' -bench ApplyToRunning ./internal/controller/application/
func BenchmarkApplyToRunning(b *testing.B) {
	startOperator(b)
	ns := newNamespace(b)
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		create(b, newApp(ns, name))
		waitPhase(b, ns, name, platformv1.PhaseRunning, time.Minute)
		total += time.Since(start)
		b.StopTimer()
		_ = k8s.Delete(context.Background(), getApp(b, ns, name))
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-running/op")
}
