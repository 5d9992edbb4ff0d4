package application

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/workload"
)

// An app's messaging is a NatsUser of its own, named after it, whose
// reconciler (internal/controller/nats) keeps the key and revokes it; the
// app only asks for it, mounts its Secret and waits for its revocation.

// +kubebuilder:rbac:groups=platform.internal,resources=natsusers,verbs=get;list;watch;create;update;patch;delete

// messagingName is the app's NatsUser; its Secret is <app>-nats.
func messagingName(app *platformv1.Application) (user, secret string) {
	return app.Name, app.Name + "-nats"
}

// natsUserSpec is what the app asks of its user.
func natsUserSpec(app *platformv1.Application) platformv1.NatsUserSpec {
	m := app.Spec.Messaging
	_, secret := messagingName(app)
	account := m.Account
	if account == "" {
		account = "default"
	}
	return platformv1.NatsUserSpec{
		AccountRef:        platformv1.LocalObjectName{Name: account},
		CredentialsSecret: platformv1.LocalObjectName{Name: secret},
		Permissions: platformv1.NatsPermissions{
			Pub: platformv1.NatsSubjects{Allow: slices.Clone(m.Publish)},
			Sub: platformv1.NatsSubjects{Allow: slices.Clone(m.Subscribe)},
			// Services answer requests without a publish permission on
			// their callers' inboxes.
			Resp: &platformv1.NatsResponsePermission{Max: 1},
		},
		DeletionPolicy: platformv1.NatsDeletionRevoke,
	}
}

// messagingWorkload is the workload's side: NATS_URL, NATS_CREDS, the mount.
func (r *Reconciler) messagingWorkload(app *platformv1.Application) *workload.Messaging {
	if !app.Spec.MessagingEnabled() || r.Config.NATS.URL == "" {
		return nil
	}
	_, secret := messagingName(app)
	return &workload.Messaging{URL: r.Config.NATS.URL, Secret: secret}
}

func (r *Reconciler) reconcileMessaging(ctx context.Context, s *scope) {
	app := s.app
	set := func(status metav1.ConditionStatus, reason, msg string) {
		capability.SetCondition(app, platformv1.ConditionMessagingReady, status, reason, msg)
	}
	name, _ := messagingName(app)
	current := &platformv1.NatsUser{}
	err := r.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: name}, current)
	if err != nil && !apierrors.IsNotFound(err) {
		r.kit.Record(s.Run, "messaging", nil, err)
		return
	}
	exists := err == nil
	owned := exists && metav1.IsControlledBy(current, app)
	if !app.Spec.MessagingEnabled() {
		set(metav1.ConditionTrue, platformv1.ReasonDisabled, "spec.messaging is not set")
		// Removing spec.messaging revokes (the user's finalizer) and removes.
		if owned && current.DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, current); client.IgnoreNotFound(err) != nil {
				r.kit.Record(s.Run, "messaging", nil, err)
			}
		}
		return
	}
	if r.Config.NATS.URL == "" {
		set(metav1.ConditionFalse, platformv1.ReasonMessagingNotConfigured, "the operator has no NATS server (NATS_URL); ask the platform team")
		return
	}
	if exists && !owned {
		set(metav1.ConditionFalse, platformv1.ReasonSecretConflict, fmt.Sprintf("NatsUser %s exists and is not this app's; delete it or rename the app", name))
		r.kit.Record(s.Run, "messaging", nil, capability.Terminal(fmt.Errorf("NatsUser %s belongs to someone else", name)))
		return
	}
	want := natsUserSpec(app)
	switch {
	case !exists:
		u := &platformv1.NatsUser{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: name, Labels: labels(app),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(app, platformv1.GroupVersion.WithKind("Application"))}}, Spec: want}
		if err := r.Create(ctx, u); err != nil {
			r.kit.Record(s.Run, "messaging", nil, err)
			return
		}
		current = u
	case !current.DeletionTimestamp.IsZero():
		set(metav1.ConditionFalse, platformv1.ReasonProvisioning, "waiting for the previous NatsUser to revoke its key and go")
		return
	case !sameUserSpec(current.Spec, want):
		// Fields the API server defaulted (expiresIn, renewBefore) are kept.
		current.Spec.AccountRef, current.Spec.CredentialsSecret, current.Spec.Permissions = want.AccountRef, want.CredentialsSecret, want.Permissions
		current.Spec.DeletionPolicy = want.DeletionPolicy
		if err := r.Update(ctx, current); err != nil {
			r.kit.Record(s.Run, "messaging", nil, err)
			return
		}
	}
	ready := capability.Condition(current, platformv1.ConditionReady)
	switch {
	case ready == nil || current.Status.ObservedGeneration != current.Generation:
		set(metav1.ConditionFalse, platformv1.ReasonProvisioning, fmt.Sprintf("waiting for NatsUser %s", name))
	case ready.Status != metav1.ConditionTrue:
		set(metav1.ConditionFalse, ready.Reason, fmt.Sprintf("NatsUser %s: %s", name, ready.Message))
	default:
		set(metav1.ConditionTrue, platformv1.ReasonProvisioned, fmt.Sprintf("NatsUser %s (key %s) on account %s", name, current.Status.UserPublicKey, want.AccountRef.Name))
	}
}

// sameUserSpec compares what the app sets.
func sameUserSpec(have, want platformv1.NatsUserSpec) bool {
	return have.AccountRef == want.AccountRef && have.CredentialsSecret == want.CredentialsSecret &&
		have.DeletionPolicy == want.DeletionPolicy && equality.Semantic.DeepEqual(have.Permissions, want.Permissions)
}

// removeMessaging is the app's cleanup step: its NatsUser is deleted and
// the app waits until it is gone — its own finalizer revokes the key on
// the server first.
func (r *Reconciler) removeMessaging(ctx context.Context, app *platformv1.Application) error {
	name, _ := messagingName(app)
	u := &platformv1.NatsUser{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: name}, u); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(u, app) {
		return nil
	}
	if u.DeletionTimestamp.IsZero() {
		if err := r.Delete(ctx, u); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return fmt.Errorf("waiting for NatsUser %s to revoke its key", name)
}
