package application

import (
	"context"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Per-namespace fairness. A burst of a thousand apps in a few namespaces
// must not make a developer's deploy elsewhere wait its turn behind them.
// An Application's own events are queued with a priority that falls with
// the number of apps of its namespace still in flight; events of children
// (a Deployment turning Available) keep the default priority, so apps
// already started finish before new ones of a busy namespace start.

// maxInFlightPenalty keeps the lowest fairness priority above
// handler.LowPriority, which controller-runtime gives to the initial list
// after a restart.
const maxInFlightPenalty = -handler.LowPriority - 1

func (r *Reconciler) fairQueue() handler.TypedEventHandler[client.Object, reconcile.Request] {
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q queue) {
			prio := handler.LowPriority
			if !e.IsInInitialList {
				prio = r.namespacePriority(ctx, e.Object)
			}
			enqueue(q, e.Object, prio)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q queue) {
			enqueue(q, e.ObjectNew, r.namespacePriority(ctx, e.ObjectNew))
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[client.Object], q queue) {
			enqueue(q, e.Object, 0)
		},
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[client.Object], q queue) {
			enqueue(q, e.Object, 0)
		},
	}
}

func enqueue(q workqueue.TypedRateLimitingInterface[reconcile.Request], obj client.Object, priority int) {
	req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)}
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{Priority: &priority}, req)
		return
	}
	q.Add(req)
}

// namespacePriority is minus the number of other apps in obj's namespace
// that are not settled (Running at their generation), read from the cache.
func (r *Reconciler) namespacePriority(ctx context.Context, obj client.Object) int {
	apps := &platformv1.ApplicationList{}
	if err := r.List(ctx, apps, client.InNamespace(obj.GetNamespace())); err != nil {
		return 0
	}
	inFlight := 0
	for i := range apps.Items {
		a := &apps.Items[i]
		if a.Name != obj.GetName() && (a.Status.Phase != platformv1.PhaseRunning || a.Status.ObservedGeneration != a.Generation) {
			inFlight++
		}
	}
	return -min(inFlight, maxInFlightPenalty)
}
