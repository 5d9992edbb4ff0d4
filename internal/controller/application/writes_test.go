package application_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// A new app with a database and a workload is written once each: its
// finalizers in one patch, its status twice at most (Provisioning, then
// Running — no write per pod turning ready, none for a reconcile that ran
// on a cache behind the last write), and each child in one apply. This is
// the floor a burst's throughput rests on (make bench-scale).
func TestANewAppIsWrittenOnceEach(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	mark := writes.mark()
	create(t, newApp(ns, "once"))
	waitPhase(t, ns, "once", platformv1.PhaseRunning, runningTimeout)
	// Writes after Running would be extra: give stray events a moment.
	time.Sleep(time.Second)
	counts := map[string]int{}
	var all []string
	total := 0
	for k, n := range writes.since(mark) {
		if !strings.Contains(k, ns+"/") {
			continue
		}
		counts[k] = n
		all = append(all, fmt.Sprintf("%s ×%d", k, n))
		total += n
	}
	slices.Sort(all)
	app := fmt.Sprintf("*v1alpha1.Application %s/once", ns)
	if n := counts["patch "+app]; n != 1 {
		t.Errorf("%d finalizer patches, want 1", n)
	}
	if n := counts["patch/status "+app]; n < 1 || n > 2 {
		t.Errorf("%d status writes, want 1 or 2 (Provisioning, Running)", n)
	}
	for k, n := range counts {
		if strings.HasPrefix(k, "apply ") && n != 1 {
			t.Errorf("%s applied %d times, want once", k, n)
		}
	}
	// finalizers 1, status 2, ServiceAccount, database Secret, Deployment
	// and its initial replicas, Service, HPA, PDB, two Ingresses.
	if total > 12 {
		t.Errorf("%d writes for one new app, want at most 12:\n%s", total, strings.Join(all, "\n"))
	}
	t.Logf("%d writes:\n%s", total, strings.Join(all, "\n"))
}
