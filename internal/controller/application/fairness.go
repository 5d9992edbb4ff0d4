package application

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
// (a Deployment turning Available) one above it, so apps already started
// finish before new ones of the same busy namespace start, and a
// developer's app elsewhere is not queued behind a burst's children either
// (with the default priority for children, a hand-deployed app waited
// seconds behind them: make bench-scale).

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

// childQueue enqueues the Application that controls a child, at its
// namespace's priority plus one.
func (r *Reconciler) childQueue() handler.TypedEventHandler[client.Object, reconcile.Request] {
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	add := func(ctx context.Context, q queue, objs ...client.Object) {
		for _, obj := range objs {
			ref := metav1.GetControllerOf(obj)
			if ref == nil || ref.Kind != "Application" {
				continue
			}
			if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != platformv1.GroupVersion.Group {
				continue
			}
			owner := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: obj.GetNamespace(), Name: ref.Name}}
			enqueue(q, owner, r.namespacePriority(ctx, owner)+1)
		}
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q queue) { add(ctx, q, e.Object) },
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q queue) {
			add(ctx, q, e.ObjectNew)
			if o, n := metav1.GetControllerOf(e.ObjectOld), metav1.GetControllerOf(e.ObjectNew); o != nil && (n == nil || o.UID != n.UID) {
				add(ctx, q, e.ObjectOld)
			}
		},
		DeleteFunc:  func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q queue) { add(ctx, q, e.Object) },
		GenericFunc: func(ctx context.Context, e event.TypedGenericEvent[client.Object], q queue) { add(ctx, q, e.Object) },
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
	// The cache's own objects, read only: a copy of every app of the
	// namespace per event would cost a burst more than the queue saves.
	if err := r.List(ctx, apps, client.InNamespace(obj.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
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
