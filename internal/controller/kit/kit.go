// Package kit is what every Plattr controller reconciles with, so that each
// kind (Application, PreviewEnvironment, Tenant and the kinds to come)
// follows one set of rules instead of its own copy of them:
//
//   - a Run is one reconcile of one object: what it read, what its steps
//     found (Record: failures, terminal ones, backend outages);
//   - Finish derives Ready, the phase, failedAttempts, the kstatus
//     conditions (Reconciling, Stalled) and observedGeneration from that,
//     and emits the phase-change Event;
//   - Patch writes the status once, at the end, only if it changed;
//   - EnsureMetadata and Cleanup keep the finalizers (one write each way)
//     and run the external cleanup steps, honouring the abandon annotation;
//   - an object that failed on a backend is woken when the backend answers
//     again (Watch), whether it failed creating or cleaning up;
//   - each phase of a reconcile is timed (Time).
package kit

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/source"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/controller/wake"
)

// Object is a Plattr kind the kit reconciles.
type Object interface {
	capability.Owner
	CommonStatus() platformv1.CommonStatus
}

// Kit is one controller's share of the rules, built once at setup.
type Kit[T Object] struct {
	// Name is the controller's name, in metrics.
	Name     string
	Client   client.Client
	Recorder events.EventRecorder
	// Clock tells the time; nil is the real clock.
	Clock clock.PassiveClock
	// New makes an empty object of the kind.
	New func() T

	backends *wake.Backends[T]
	wakeUp   chan event.TypedGenericEvent[T]
	written  memory[T] // written.go
}

// Now is the kit's time.
func (k *Kit[T]) Now() time.Time {
	if k.Clock == nil {
		return time.Now()
	}
	return k.Clock.Now()
}

// Key makes the (empty) object of key, for wake events.
func (k *Kit[T]) Key(key types.NamespacedName) T {
	obj := k.New()
	obj.SetNamespace(key.Namespace)
	obj.SetName(key.Name)
	return obj
}

// Watch registers with mgr the backend watch — pings (backend name → ping)
// of the backends objects failed on, every 5 s while any did — and returns
// the source that brings woken objects back into the controller's queue.
// Other periodic checks (a drift sweep) wake objects through Wake.
func (k *Kit[T]) Watch(mgr manager.Manager, pings map[string]func(context.Context) error) (source.Source, error) {
	k.wakeUp = make(chan event.TypedGenericEvent[T], 1024)
	k.backends = wake.NewBackends(5*time.Second, pings, k.wakeUp, k.Key)
	if err := mgr.Add(k.backends); err != nil {
		return nil, err
	}
	return source.Channel(k.wakeUp, &handler.TypedEnqueueRequestForObject[T]{}), nil
}

// Wake is where periodic checks send the objects to reconcile again; nil
// before Watch.
func (k *Kit[T]) Wake() chan<- event.TypedGenericEvent[T] { return k.wakeUp }

// Run is one reconcile of one object: what it read and what its steps found.
type Run[T Object] struct {
	Obj T
	// Before is the object as read (its metadata refreshed by the kit's own
	// writes), for change detection.
	Before T
	// Settled: Running at its current generation when read, so a child
	// found missing or changed was touched by someone else.
	Settled bool
	// Errs are failures retried with backoff.
	Errs []error
	// Terminal: a failure that retrying the same spec will not mend.
	Terminal bool
	// Waiting: the object needs its owner (no image, no parent): Pending.
	Waiting bool
	// Provided holds, per capability, the Sources it wrote this reconcile.
	Provided map[string][]capability.Source
	// WorkloadUp: the Deployment and Service were applied.
	WorkloadUp bool

	outages []string // backends that could not be reached, in order
}

// Begin starts the run of obj.
func Begin[T Object](obj T) *Run[T] {
	st := obj.CommonStatus()
	return &Run[T]{
		Obj: obj, Before: obj.DeepCopyObject().(T), Provided: map[string][]capability.Source{},
		Settled: *st.Phase == platformv1.PhaseRunning && *st.ObservedGeneration == obj.GetGeneration(),
	}
}

// Fail records a failure that did not come from a capability.
func (r *Run[T]) Fail(err error) {
	r.Errs = append(r.Errs, err)
	if capability.IsTerminal(err) {
		r.Terminal = true
	}
}

// Record keeps a capability's outcome: its Sources for the workload, or its
// failure — retried with backoff, at once when the backend it could not
// reach answers again, and Failed at once when retrying cannot help.
func (k *Kit[T]) Record(r *Run[T], from string, sources []capability.Source, err error) {
	if err == nil {
		if sources != nil {
			r.Provided[from] = sources
		}
		return
	}
	r.Fail(err)
	if backend, ok := capability.UnavailableBackend(err); ok {
		k.backends.Failed(backend, r.Obj)
		if capability.IsOutage(err) {
			r.outages = append(r.outages, backend)
		}
	}
}

// outage: every failure of the run is a platform backend's unavailability.
func (r *Run[T]) outage() bool {
	if len(r.Errs) == 0 || r.Terminal {
		return false
	}
	for _, err := range r.Errs {
		if !capability.IsOutage(err) {
			return false
		}
	}
	return true
}
