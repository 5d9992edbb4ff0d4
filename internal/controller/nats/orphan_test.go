package nats

import (
	"bytes"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// deletionPolicy Orphan leaves the creds working until they expire — so
// their Secret stays too. Before the fix the Secret kept its owner
// reference and the garbage collector deleted the only copy of creds the
// server still accepted. A new NatsUser of the same name (another UID)
// does not take the orphaned Secret over.
func TestOrphanKeepsTheCredentialsAndTheirSecret(t *testing.T) {
	op := startOperator(t, nil)
	defer op.stop()
	makeNamespace(t, "team-o", nil)
	makeAccount(t, platformNS, "default", &metav1.LabelSelector{}, "events.public.>")
	u := user("team-o", "keeper", "default")
	u.Spec.DeletionPolicy = platformv1.NatsDeletionOrphan
	if err := k8s.Create(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	waitReady(t, u, nil)
	secret := creds(t, u)
	b := secret.Data[platformv1.NatsCredsKey]
	if err := k8s.Delete(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the NatsUser to go", func() bool {
		return apierrors.IsNotFound(k8s.Get(t.Context(), client.ObjectKeyFromObject(u), &platformv1.NatsUser{}))
	})
	// The garbage collector would act within a few seconds of the owner
	// going: wait until the Secret has no owner left, then check it stays.
	waitFor(t, "the Secret to be orphaned", func() bool {
		s := creds(t, u)
		return len(s.OwnerReferences) == 0
	})
	if err := canPublish(t, b, "team-o", "team-o.x"); err != nil {
		t.Fatalf("orphaned creds refused: %v", err)
	}
	if got := creds(t, u).Data[platformv1.NatsCredsKey]; !bytes.Equal(got, b) {
		t.Fatal("the orphaned Secret's creds changed")
	}

	again := user("team-o", "keeper", "default")
	if err := k8s.Create(t.Context(), again); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new user to report the foreign Secret", func() bool {
		get(t, again)
		c := condition(again, platformv1.ConditionCredentialsIssued)
		return c != nil && c.Reason == platformv1.ReasonSecretConflict
	})
	if got := creds(t, u).Data[platformv1.NatsCredsKey]; !bytes.Equal(got, b) {
		t.Fatal("a new NatsUser of the same name overwrote the orphaned creds")
	}
}
