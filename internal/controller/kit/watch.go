package kit

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/plattr/plattr/internal/controller/predicates"
)

// WatchChildren makes b watch an owner's children through h: every change
// of the Deployment (its status is read: availability), and of each other
// kind only a change of what Plattr wrote (predicates.ChildChanged), so an
// HPA's status every 15 s reconciles nothing while a hand edit is reverted
// at once.
func WatchChildren(b *builder.Builder, h handler.EventHandler, kinds ...client.Object) *builder.Builder {
	b = b.Watches(&appsv1.Deployment{}, h)
	for _, kind := range kinds {
		b = b.Watches(kind, h, builder.WithPredicates(predicates.ChildChanged))
	}
	return b
}

// RetryLimiter spaces the retries of one failing object: 1 s, 2 s, 4 s …
// up to maxBackoff, per object; a success forgets its failures. Events (a
// spec change, a watched Secret, a backend returning) retry at once.
func RetryLimiter(maxBackoff time.Duration) workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, maxBackoff)
}
