package capability_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
)

// Apply writes only what differs from what Plattr owns, takes a field
// edited by hand back, and says so when the owner was settled.
func TestApplyWritesOnlyDifferencesAndRestoresHandEdits(t *testing.T) {
	ctx := context.Background()
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t)
	target := capabilitytest.Target(app)
	desired := func() *corev1ac.ConfigMapApplyConfiguration {
		return corev1ac.ConfigMap("web-storage", "shop").WithLabels(target.Labels).
			WithOwnerReferences(target.OwnerReference()).WithData(map[string]string{"S3_REGION": "eu"})
	}
	apply := func(tg capability.Target) {
		t.Helper()
		if err := capability.Apply(ctx, env.Kube, tg, &corev1.ConfigMap{}, desired(), corev1ac.ExtractConfigMap); err != nil {
			t.Fatal(err)
		}
	}
	apply(target)
	apply(target)
	if env.Writes() != 1 {
		t.Fatalf("two applies of the same object wrote %d times, want 1", env.Writes())
	}
	if ev := env.Events(); len(ev) != 0 {
		t.Errorf("events on a first apply: %v", ev)
	}

	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web-storage"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["S3_REGION"] = "us" // by hand, under another field manager
	if err := env.Client.Update(ctx, cm, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	settled := target
	settled.Settled = true
	apply(settled)
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web-storage"}, cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["S3_REGION"] != "eu" {
		t.Errorf("the hand edit stayed: %v", cm.Data)
	}
	if ev := strings.Join(env.Events(), "\n"); !strings.Contains(ev, platformv1.EventRestored) {
		t.Errorf("no %s Event for a restored hand edit: %q", platformv1.EventRestored, ev)
	}
}

// A credentials Secret deleted between the read and the write is not
// written back with the old credentials.
func TestApplyCredentialsNeverResurrectsADeletedSecret(t *testing.T) {
	ctx := context.Background()
	app := capabilitytest.App("shop", "web")
	target := capabilitytest.Target(app)
	read := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-db", UID: "old"}}
	env := capabilitytest.NewEnv(t) // the Secret is gone by the time of the write
	err := env.Kube.ApplyCredentials(ctx, target, platformv1.ConditionDatabaseReady, read,
		target.CredentialsApply("web-db", map[string][]byte{"DB_PASSWORD": []byte("old")}))
	if !errors.Is(err, capability.ErrRotationPending) {
		t.Fatalf("error %v, want ErrRotationPending", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web-db"}, &corev1.Secret{}); err == nil {
		t.Error("the deleted Secret was written back with the old password")
	}
	if c := capabilitytest.Condition(t, app, platformv1.ConditionDatabaseReady); c.Reason != platformv1.ReasonRotating {
		t.Errorf("condition reason %s, want %s", c.Reason, platformv1.ReasonRotating)
	}
}

// A Secret of the name Plattr writes that another owner made is a
// conflict, named in the condition with the fix.
func TestCredentialsSecretOfAnotherOwner(t *testing.T) {
	ctx := context.Background()
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-db"}})
	_, err := env.Kube.CredentialsSecret(ctx, capabilitytest.Target(app), platformv1.ConditionDatabaseReady, "web-db", "the credentials")
	if !errors.Is(err, capability.ErrSecretConflict) {
		t.Fatalf("error %v, want ErrSecretConflict", err)
	}
	c := capabilitytest.Condition(t, app, platformv1.ConditionDatabaseReady)
	if c.Reason != platformv1.ReasonSecretConflict || !strings.Contains(c.Message, "delete or rename it") {
		t.Errorf("condition %s: %s", c.Reason, c.Message)
	}
}
