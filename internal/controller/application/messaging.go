package application

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/messaging"
	"github.com/plattr/plattr/internal/capability/workload"
)

// An app's messaging is a NatsUser of its own (messaging.EnsureUser), whose
// reconciler (internal/controller/nats) keeps the key and revokes it; the
// app only asks for it, mounts its Secret and waits for its revocation.

// +kubebuilder:rbac:groups=platform.internal,resources=natsusers,verbs=get;list;watch;create;update;patch;delete

// messagingWorkload is the workload's side: NATS_URL, NATS_CREDS, the mount.
func (r *Reconciler) messagingWorkload(app *platformv1.Application) *workload.Messaging {
	if !app.Spec.MessagingEnabled() || r.Config.NATS.URL == "" {
		return nil
	}
	return &workload.Messaging{URL: r.Config.NATS.URL, Secret: messaging.CredsSecret(app.Name)}
}

func (r *Reconciler) reconcileMessaging(ctx context.Context, s *scope) {
	err := messaging.EnsureUser(ctx, r.Client, target(s), s.app.Name, s.app.Spec.Messaging, r.Config.NATS.URL != "")
	r.kit.Record(s.Run, "messaging", nil, err)
}

// removeMessaging is the app's cleanup step (messaging.RemoveUser).
func (r *Reconciler) removeMessaging(ctx context.Context, app *platformv1.Application) error {
	t := capability.Target{Namespace: app.Namespace, Controller: metav1.OwnerReference{UID: app.UID}}
	return messaging.RemoveUser(ctx, r.Client, r.APIReader, t, app.Name)
}
