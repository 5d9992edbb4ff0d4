package kit

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/plattr/plattr/internal/controller/predicates"
)

// WatchChildren makes b watch an owner's children through h: of the
// Deployment only a change of what Plattr wrote or of the rollout's
// verdicts (predicates.DeploymentChanged: available, complete, stuck), and
// of each other kind only a change of what Plattr wrote
// (predicates.ChildChanged), so an HPA's status every 15 s, or each pod of
// a rollout turning ready, reconciles nothing while a hand edit is
// reverted at once.
func WatchChildren(b *builder.Builder, h handler.EventHandler, kinds ...client.Object) *builder.Builder {
	return WatchChildrenWith(b, h, nil, kinds...)
}

// WatchChildrenWith is WatchChildren with extra predicates on every child's
// events.
func WatchChildrenWith(b *builder.Builder, h handler.EventHandler, extra []predicate.Predicate, kinds ...client.Object) *builder.Builder {
	with := func(p predicate.Predicate) builder.WatchesOption {
		return builder.WithPredicates(append([]predicate.Predicate{p}, extra...)...)
	}
	b = b.Watches(&appsv1.Deployment{}, h, with(predicates.DeploymentChanged))
	for _, kind := range kinds {
		b = b.Watches(kind, h, with(predicates.ChildChanged))
	}
	return b
}

// RetryLimiter spaces the retries of one failing object: 1 s, 2 s, 4 s …
// up to maxBackoff, per object; a success forgets its failures. Events (a
// spec change, a watched Secret, a backend returning) retry at once.
func RetryLimiter(maxBackoff time.Duration) workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, maxBackoff)
}
