package messaging

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
)

// An owner's NATS user (an app's, a preview's): the owner only asks for a
// NatsUser of its own, named after the app, in the Target's namespace; the
// NatsUser reconciler keeps its key and revokes it.

// UserName and CredsSecret name an app's NatsUser and its Secret.
func UserName(app string) string    { return app }
func CredsSecret(app string) string { return app + "-nats" }

// UserSpec is what an app's messaging asks of its user.
func UserSpec(app string, m *platformv1.MessagingSpec) platformv1.NatsUserSpec {
	account := m.Account
	if account == "" {
		account = "default"
	}
	return platformv1.NatsUserSpec{
		AccountRef:        platformv1.LocalObjectName{Name: account},
		CredentialsSecret: platformv1.LocalObjectName{Name: CredsSecret(app)},
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

// controlled: obj's controller is the Target's.
func controlled(t capability.Target, obj metav1.Object) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == t.Controller.UID
}

// EnsureUser makes, keeps or (messaging nil or disabled) removes the app's
// NatsUser in the Target's namespace and sets MessagingReady on its owner.
// configured: the operator has a NATS server.
func EnsureUser(ctx context.Context, c client.Client, t capability.Target, app string, m *platformv1.MessagingSpec, configured bool) error {
	set := func(status metav1.ConditionStatus, reason, msg string) {
		t.SetCondition(platformv1.ConditionMessagingReady, status, reason, msg)
	}
	name := UserName(app)
	current := &platformv1.NatsUser{}
	err := c.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: name}, current)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	exists := err == nil
	owned := exists && controlled(t, current)
	if m == nil || !m.Enabled {
		set(metav1.ConditionTrue, platformv1.ReasonDisabled, "spec.messaging is not set")
		// Removing spec.messaging revokes (the user's finalizer) and removes.
		if owned && current.DeletionTimestamp.IsZero() {
			return client.IgnoreNotFound(c.Delete(ctx, current))
		}
		return nil
	}
	if !configured {
		set(metav1.ConditionFalse, platformv1.ReasonMessagingNotConfigured, "the operator has no NATS server (NATS_URL); ask the platform team")
		return nil
	}
	if exists && !owned {
		set(metav1.ConditionFalse, platformv1.ReasonSecretConflict, fmt.Sprintf("NatsUser %s exists and is not this app's; delete it or rename the app", name))
		return capability.Terminal(fmt.Errorf("NatsUser %s belongs to someone else", name))
	}
	want := UserSpec(app, m)
	switch {
	case !exists:
		ref := t.Controller
		ctrl, block := true, true
		ref.Controller, ref.BlockOwnerDeletion = &ctrl, &block
		u := &platformv1.NatsUser{ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: name, Labels: t.Labels,
			OwnerReferences: []metav1.OwnerReference{ref}}, Spec: want}
		if err := c.Create(ctx, u); err != nil {
			return err
		}
		current = u
	case !current.DeletionTimestamp.IsZero():
		set(metav1.ConditionFalse, platformv1.ReasonProvisioning, "waiting for the previous NatsUser to revoke its key and go")
		return nil
	case !sameUserSpec(current.Spec, want):
		// Fields the API server defaulted (expiresIn, renewBefore) are kept.
		current.Spec.AccountRef, current.Spec.CredentialsSecret, current.Spec.Permissions = want.AccountRef, want.CredentialsSecret, want.Permissions
		current.Spec.DeletionPolicy = want.DeletionPolicy
		if err := c.Update(ctx, current); err != nil {
			return err
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
	return nil
}

// sameUserSpec compares what the owner sets.
func sameUserSpec(have, want platformv1.NatsUserSpec) bool {
	return have.AccountRef == want.AccountRef && have.CredentialsSecret == want.CredentialsSecret &&
		have.DeletionPolicy == want.DeletionPolicy && equality.Semantic.DeepEqual(have.Permissions, want.Permissions)
}

// RemoveUser is an owner's cleanup step: its NatsUser is deleted and the
// owner waits until it is gone — the user's own finalizer revokes the key
// on the server first.
func RemoveUser(ctx context.Context, c client.Client, reader client.Reader, t capability.Target, app string) error {
	u := &platformv1.NatsUser{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: UserName(app)}, u); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !controlled(t, u) {
		return nil
	}
	if u.DeletionTimestamp.IsZero() {
		if err := c.Delete(ctx, u); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return fmt.Errorf("waiting for NatsUser %s to revoke its key", u.Name)
}
