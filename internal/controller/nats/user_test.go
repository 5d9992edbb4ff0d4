package nats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	natsgo "github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/messaging"
	stacknats "github.com/plattr/plattr/internal/stack/nats"
)

var ctx = context.Background()

func makeNamespace(t *testing.T, name string, l map[string]string) {
	t.Helper()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func makeAccount(t *testing.T, ns, name string, sel *metav1.LabelSelector, shared ...string) *platformv1.NatsAccount {
	t.Helper()
	a := &platformv1.NatsAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: platformv1.NatsAccountSpec{NamespaceSelector: sel, SharedSubjects: shared}}
	if err := k8s.Create(ctx, a); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return a
}

func user(ns, name, account string, pub ...string) *platformv1.NatsUser {
	return &platformv1.NatsUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: platformv1.NatsUserSpec{
		AccountRef:        platformv1.LocalObjectName{Name: account},
		CredentialsSecret: platformv1.LocalObjectName{Name: name + "-nats"},
		Permissions:       platformv1.NatsPermissions{Pub: platformv1.NatsSubjects{Allow: pub}},
	}}
}

func get(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
}

func condition(u *platformv1.NatsUser, typ string) *metav1.Condition {
	for i := range u.Status.Conditions {
		if u.Status.Conditions[i].Type == typ {
			return &u.Status.Conditions[i]
		}
	}
	return nil
}

func waitReady(t *testing.T, u *platformv1.NatsUser, ok func(*platformv1.NatsUser) bool) {
	t.Helper()
	waitFor(t, "NatsUser "+u.Name+" to be Running", func() bool {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return false
		}
		return u.Status.Phase == platformv1.PhaseRunning && u.Status.ObservedGeneration == u.Generation && (ok == nil || ok(u))
	})
}

func creds(t *testing.T, u *platformv1.NatsUser) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: u.Spec.CredentialsSecret.Name}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func connect(b []byte, ns string, errs chan error) (*natsgo.Conn, error) {
	opts := []natsgo.Option{natsgo.MaxReconnects(0), natsgo.CustomInboxPrefix(messaging.InboxPrefix(ns))}
	if errs != nil {
		opts = append(opts, natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) { errs <- err }))
	}
	return stacknats.Connect(server.URL(), b, opts...)
}

// canPublish: a message to subject is delivered to a subscriber of the same
// connection; a refusal comes back as the server's permissions violation.
func canPublish(t *testing.T, b []byte, ns, subject string) error {
	t.Helper()
	errs := make(chan error, 4)
	nc, err := connect(b, ns, errs)
	if err != nil {
		return err
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return err
	}
	_ = nc.Publish(subject, []byte("x"))
	_ = nc.Flush()
	for {
		select {
		case err := <-errs:
			return err
		default:
		}
		m, err := sub.NextMsg(200 * time.Millisecond)
		if err == nil && string(m.Data) == "x" {
			return nil
		}
		if err != nil && !errors.Is(err, natsgo.ErrTimeout) {
			return err
		}
	}
}

// waitCaughtUp waits until the operator's cache holds the API server's
// copy of u, and leaves u as that copy.
func waitCaughtUp(t *testing.T, op *operator, u *platformv1.NatsUser) {
	t.Helper()
	waitFor(t, "the operator's cache to catch up", func() bool {
		cached := &platformv1.NatsUser{}
		if err := op.users.Get(ctx, client.ObjectKeyFromObject(u), cached); err != nil {
			return false
		}
		get(t, u)
		return cached.ResourceVersion == u.ResourceVersion
	})
}

// publishRefused publishes only, and expects the server's refusal.
func publishRefused(b []byte, ns, subject string) error {
	errs := make(chan error, 4)
	nc, err := connect(b, ns, errs)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.Publish(subject, []byte("x"))
	_ = nc.Flush()
	select {
	case err := <-errs:
		if strings.Contains(strings.ToLower(err.Error()), "permissions violation for publish") {
			return nil
		}
		return fmt.Errorf("publishing to %s: %v, want a permissions violation", subject, err)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the server did not refuse publishing to %s", subject)
	}
}

// refusedToConnect waits until the server refuses the creds.
func refusedToConnect(t *testing.T, b []byte, ns string) {
	t.Helper()
	waitFor(t, "the server to refuse the old creds", func() bool {
		nc, err := connect(b, ns, nil)
		if err != nil {
			return true
		}
		nc.Close()
		return false
	})
}

func publicKey(t *testing.T, b []byte) string {
	t.Helper()
	kp, err := jwt.ParseDecoratedNKey(b)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return pub
}

// The lifecycle on the real API server and NATS server, in order: created
// once; 20 reconciles and an operator restart write nothing and the creds
// keep working; the server enforces the subjects; a permission change
// re-signs the same key; a rotation revokes the old key; a crash between
// the revocation and the Secret's write converges on one new key; deletion
// with Revoke makes the creds fail.
func TestUserLifecycle(t *testing.T) {
	op := startOperator(t, nil)
	defer func() { op.stop() }()
	makeNamespace(t, "team-a", nil)
	makeAccount(t, platformNS, "default", &metav1.LabelSelector{}, "events.public.>")
	u := user("team-a", "app", "default", "team-a.>")
	if err := k8s.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	waitReady(t, u, nil)
	first := creds(t, u)
	firstCreds := first.Data[platformv1.NatsCredsKey]
	if u.Status.UserPublicKey != publicKey(t, firstCreds) || u.Status.ExpiresAt == nil || u.Status.ClaimsHash == "" {
		t.Fatalf("status does not describe the Secret's key: %+v", u.Status)
	}
	if got := testutil.ToFloat64(CredentialsExpiry.WithLabelValues("team-a", "app")); got != float64(u.Status.ExpiresAt.Unix()) {
		t.Fatalf("expiry metric %v, want %d", got, u.Status.ExpiresAt.Unix())
	}

	// 20 reconciles: nothing written. The baseline is taken once the
	// operator's cache has caught up with the API server: a reconcile of a
	// stale cached copy rewrites the status (the kit's status patch has no
	// optimistic lock; see the report).
	waitCaughtUp(t, op, u)
	writes, statusRV := testutil.ToFloat64(SecretWrites), u.ResourceVersion
	beforeStatus, _ := json.Marshal(u.Status)
	for i := 0; i < 20; i++ {
		if _, err := op.users.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(u)}); err != nil {
			t.Fatalf("reconcile %d: %v", i, err)
		}
	}
	// An operator restart: the new one reconciles every user once more.
	before := reconcileCount("natsuser")
	op.stop()
	op = startOperator(t, nil)
	waitFor(t, "the restarted operator to reconcile the user", func() bool { return reconcileCount("natsuser") > before })
	after := creds(t, u)
	get(t, u)
	t.Logf("reconciles: 20 direct + %.0f after the restart; Secret writes: %.0f", reconcileCount("natsuser")-before, testutil.ToFloat64(SecretWrites)-writes)
	if after.ResourceVersion != first.ResourceVersion || !bytes.Equal(after.Data[platformv1.NatsCredsKey], firstCreds) {
		t.Fatal("the Secret changed without a change of the user")
	}
	if testutil.ToFloat64(SecretWrites) != writes || u.ResourceVersion != statusRV {
		afterStatus, _ := json.Marshal(u.Status)
		t.Fatalf("a no-op reconcile wrote: %v Secret writes, NatsUser %s -> %s\n%s\n%s", testutil.ToFloat64(SecretWrites)-writes, statusRV, u.ResourceVersion, beforeStatus, afterStatus)
	}

	// The server enforces the subjects.
	if err := canPublish(t, firstCreds, "team-a", "team-a.orders"); err != nil {
		t.Fatalf("allowed publish: %v", err)
	}
	if err := publishRefused(firstCreds, "team-a", "team-b.orders"); err != nil {
		t.Fatal(err)
	}

	// A permission change re-signs the same key.
	get(t, u)
	oldHash := u.Status.ClaimsHash
	u.Spec.Permissions.Pub.Allow = []string{"team-a.>", "events.public.>"}
	u.Spec.Permissions.Sub.Allow = []string{"team-a.>", "events.public.>"}
	if err := k8s.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	waitReady(t, u, func(u *platformv1.NatsUser) bool { return u.Status.ClaimsHash != oldHash })
	resigned := creds(t, u).Data[platformv1.NatsCredsKey]
	if u.Status.UserPublicKey != publicKey(t, firstCreds) || publicKey(t, resigned) != publicKey(t, firstCreds) {
		t.Fatal("a permission change made a new key")
	}
	if err := canPublish(t, resigned, "team-a", "events.public.x"); err != nil {
		t.Fatalf("the new permission: %v", err)
	}

	// A rotation: a new key, the old one refused.
	u.Spec.Rotation = "2026-12"
	if err := k8s.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	waitReady(t, u, func(u *platformv1.NatsUser) bool { return u.Status.UserPublicKey != publicKey(t, firstCreds) })
	rotated := creds(t, u).Data[platformv1.NatsCredsKey]
	refusedToConnect(t, resigned, "team-a")
	if err := canPublish(t, rotated, "team-a", "team-a.orders"); err != nil {
		t.Fatalf("the rotated creds: %v", err)
	}
	if c := condition(u, platformv1.ConditionRevoked); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Revoked = %+v", c)
	}

	// A crash between the revocation (pushed) and the Secret's write: the
	// operator is stopped there, the old key is already refused, and the
	// next operator converges on exactly one new, working key.
	var crashed atomic.Bool
	op.stop()
	hit := make(chan struct{})
	op = startOperator(t, func() error {
		if crashed.CompareAndSwap(false, true) {
			close(hit)
		}
		return errors.New("simulated crash between revoking and storing")
	})
	get(t, u)
	u.Spec.Rotation = "2027-01"
	if err := k8s.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hit:
	case <-time.After(90 * time.Second):
		t.Fatal("the rotation never reached the crash point")
	}
	op.stop()
	if !bytes.Equal(creds(t, u).Data[platformv1.NatsCredsKey], rotated) {
		t.Fatal("the Secret changed before the crash point")
	}
	refusedToConnect(t, rotated, "team-a")
	op = startOperator(t, nil)
	waitReady(t, u, func(u *platformv1.NatsUser) bool { return u.Status.UserPublicKey != publicKey(t, rotated) })
	final := creds(t, u)
	finalCreds := final.Data[platformv1.NatsCredsKey]
	if u.Status.UserPublicKey != publicKey(t, finalCreds) {
		t.Fatal("status and Secret name different keys")
	}
	if err := canPublish(t, finalCreds, "team-a", "team-a.orders"); err != nil {
		t.Fatalf("the converged key: %v", err)
	}
	for _, old := range [][]byte{firstCreds, resigned, rotated} {
		if nc, err := connect(old, "team-a", nil); err == nil {
			nc.Close()
			t.Fatal("an earlier key still connects: more than one working key")
		}
	}

	// Deletion with Revoke: the creds fail, then the user and Secret go.
	if err := k8s.Delete(ctx, u); err != nil {
		t.Fatal(err)
	}
	refusedToConnect(t, finalCreds, "team-a")
	waitFor(t, "the NatsUser to go", func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(u), &platformv1.NatsUser{}))
	})
}
