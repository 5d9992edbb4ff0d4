package preview

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/controller/wake"
)

// sweep deletes expired previews, across all namespaces, every interval.
// It runs on the leader only; deleting a preview starts its cleanup.
type sweep struct {
	r        *Reconciler
	interval time.Duration
}

// NeedLeaderElection: two replicas must not both delete.
func (w *sweep) NeedLeaderElection() bool { return true }

// Start sweeps until ctx ends: once at start, then every interval.
func (w *sweep) Start(ctx context.Context) error {
	return wake.Periodically(ctx, w.interval, func(ctx context.Context) {
		if n, err := w.Sweep(ctx); err != nil {
			log.FromContext(ctx).Error(err, "sweeping expired previews")
		} else if n > 0 {
			log.FromContext(ctx).Info("deleted expired previews", "count", n)
		}
	})
}

// Sweep deletes every preview whose expiry has passed and returns how many.
func (w *sweep) Sweep(ctx context.Context) (int, error) {
	list := &platformv1.PreviewEnvironmentList{}
	if err := w.r.List(ctx, list); err != nil {
		return 0, err
	}
	now := w.r.now()
	n := 0
	for i := range list.Items {
		pe := &list.Items[i]
		if !pe.DeletionTimestamp.IsZero() {
			continue
		}
		expires, err := w.r.expiresAt(pe)
		if err != nil || now.Before(expires) {
			continue
		}
		w.r.Recorder.Eventf(pe, nil, corev1.EventTypeNormal, platformv1.EventExpired, "Delete",
			"expired at %s (ttl %s): deleting the preview and everything it has", expires.UTC().Format(time.RFC3339), pe.Spec.TTL)
		if err := w.r.Delete(ctx, pe, client.Preconditions{UID: ptr.To(pe.UID)}); client.IgnoreNotFound(err) != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
