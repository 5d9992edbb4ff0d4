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

// sweepExpired deletes expired previews, across all namespaces, once at
// start and then every PREVIEW_SWEEP_INTERVAL until ctx ends. It runs on
// the leader only (two replicas must not both delete); deleting a preview
// starts its cleanup.
func (r *Reconciler) sweepExpired(ctx context.Context) error {
	return wake.Periodically(ctx, r.Config.PreviewSweepInterval, func(ctx context.Context) {
		if n, err := r.deleteExpired(ctx); err != nil {
			log.FromContext(ctx).Error(err, "sweeping expired previews")
		} else if n > 0 {
			log.FromContext(ctx).Info("deleted expired previews", "count", n)
		}
	})
}

// deleteExpired deletes every preview whose expiry has passed and returns how many.
func (r *Reconciler) deleteExpired(ctx context.Context) (int, error) {
	list := &platformv1.PreviewEnvironmentList{}
	if err := r.List(ctx, list); err != nil {
		return 0, err
	}
	now := r.newKit().Now()
	n := 0
	for i := range list.Items {
		pe := &list.Items[i]
		if !pe.DeletionTimestamp.IsZero() {
			continue
		}
		expires, err := r.expiresAt(pe)
		if err != nil || now.Before(expires) {
			continue
		}
		r.Recorder.Eventf(pe, nil, corev1.EventTypeNormal, platformv1.EventExpired, "Delete",
			"expired at %s (ttl %s): deleting the preview and everything it has", expires.UTC().Format(time.RFC3339), pe.Spec.TTL)
		if err := r.Delete(ctx, pe, client.Preconditions{UID: ptr.To(pe.UID)}); client.IgnoreNotFound(err) != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
