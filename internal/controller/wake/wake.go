// Package wake runs the periodic work of the controllers and brings
// objects back into their queue when
// something they wait for changes outside the cluster — a backend that
// answers again, a periodic check that finds drift — instead of when their
// backoff, up to minutes, runs out.
package wake

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// Periodically calls fn at once and then every interval until ctx ends.
func Periodically(ctx context.Context, interval time.Duration, fn func(context.Context)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Every calls find every interval until ctx ends and queues the objects it
// returns; newObj makes the object of a key.
func Every[T client.Object](ctx context.Context, interval time.Duration, events chan<- event.TypedGenericEvent[T],
	newObj func(types.NamespacedName) T, find func(context.Context) []types.NamespacedName) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, key := range find(ctx) {
			select {
			case events <- event.TypedGenericEvent[T]{Object: newObj(key)}:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// Backends remembers which objects failed because a backend was down and,
// while any did, pings that backend; when it answers again those objects
// are queued at once.
type Backends[T client.Object] struct {
	interval time.Duration
	pings    map[string]func(context.Context) error
	events   chan<- event.TypedGenericEvent[T]
	newObj   func(types.NamespacedName) T

	mu      sync.Mutex
	waiting map[string]map[types.NamespacedName]bool
}

// NewBackends watches the backends of pings (name → ping).
func NewBackends[T client.Object](interval time.Duration, pings map[string]func(context.Context) error,
	events chan<- event.TypedGenericEvent[T], newObj func(types.NamespacedName) T) *Backends[T] {
	return &Backends[T]{interval: interval, pings: pings, events: events, newObj: newObj,
		waiting: map[string]map[types.NamespacedName]bool{}}
}

// Failed records that obj could not reach backend.
func (w *Backends[T]) Failed(backend string, obj client.Object) {
	if w == nil || w.pings[backend] == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting[backend] == nil {
		w.waiting[backend] = map[types.NamespacedName]bool{}
	}
	w.waiting[backend][client.ObjectKeyFromObject(obj)] = true
}

// Start pings the backends objects wait for, every interval, until ctx ends.
func (w *Backends[T]) Start(ctx context.Context) error {
	return Every(ctx, w.interval, w.events, w.newObj, w.recovered)
}

// NeedLeaderElection: only the leader reconciles, so only it pings.
func (w *Backends[T]) NeedLeaderElection() bool { return true }

// recovered pings each backend objects wait for and returns the objects of
// those that answer.
func (w *Backends[T]) recovered(ctx context.Context) []types.NamespacedName {
	var out []types.NamespacedName
	for backend, ping := range w.pings {
		if !w.hasWaiting(backend) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, w.interval)
		err := ping(pctx)
		cancel()
		if err == nil {
			out = append(out, w.take(backend)...)
		}
	}
	return out
}

func (w *Backends[T]) hasWaiting(backend string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiting[backend]) > 0
}

func (w *Backends[T]) take(backend string) []types.NamespacedName {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []types.NamespacedName
	for k := range w.waiting[backend] {
		out = append(out, k)
	}
	delete(w.waiting, backend)
	return out
}

// OnLeader is a runnable that only the leader runs: a periodic check whose
// work two replicas must not both do.
type OnLeader func(ctx context.Context) error

// Start runs the check until ctx ends.
func (f OnLeader) Start(ctx context.Context) error { return f(ctx) }

// NeedLeaderElection: only the leader runs it.
func (f OnLeader) NeedLeaderElection() bool { return true }
