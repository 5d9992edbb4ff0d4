package application_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/messaging"
	"github.com/plattr/plattr/internal/config"
	stacknats "github.com/plattr/plattr/internal/stack/nats"
	"github.com/plattr/plattr/internal/testenv"
)

// An app with spec.messaging gets its own NATS user on the real server:
// Running with MessagingReady=True, NATS_URL and NATS_CREDS in the
// container, the creds Secret mounted as a directory (no subPath); its
// creds publish to its namespace's subjects. Removing spec.messaging
// revokes the key and removes the user; deleting the app waits for the
// revocation.
func TestMessagingGivesTheAppItsOwnNatsUser(t *testing.T) {
	ctx := context.Background()
	srv, err := testenv.StartNATS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	for name, data := range map[string]map[string][]byte{
		"plattr-nats-operator": {"seed": []byte(srv.Keys.SigningKeySeed)},
		"plattr-nats-system":   {platformv1.NatsCredsKey: []byte(srv.Keys.SystemUserCreds)},
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: name}, Data: data}
		_ = k8s.Delete(ctx, s)
		eventually(t, 30*time.Second, "the keys Secret "+name, func() error { return k8s.Create(ctx, s.DeepCopy()) })
	}
	restartOperatorWith(t, func(c *config.Operator) {
		c.NATS = config.NATS{URL: srv.URL(), OperatorSecret: "plattr-nats-operator", SystemSecret: "plattr-nats-system"}
	})
	acct := &platformv1.NatsAccount{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "default"},
		Spec: platformv1.NatsAccountSpec{NamespaceSelector: &metav1.LabelSelector{}}}
	if err := k8s.Create(ctx, acct); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}

	ns := newNamespace(t)
	create(t, newApp(ns, "pub", func(a *platformv1.Application) {
		a.Spec.Database = nil
		a.Spec.Messaging = &platformv1.MessagingSpec{Enabled: true}
	}))
	app := waitPhase(t, ns, "pub", platformv1.PhaseRunning, runningTimeout)
	if c := condition(app, platformv1.ConditionMessagingReady); c.Status != metav1.ConditionTrue || c.Reason != platformv1.ReasonProvisioned {
		t.Fatalf("MessagingReady = %+v", c)
	}
	d := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pub"}, d); err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	env := map[string]string{}
	for _, e := range pod.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["NATS_URL"] != srv.URL() || env["NATS_CREDS"] != platformv1.NatsCredsMountPath+"/user.creds" {
		t.Fatalf("env: %v", env)
	}
	var mounted bool
	for _, m := range pod.Containers[0].VolumeMounts {
		if m.MountPath == platformv1.NatsCredsMountPath {
			mounted = m.SubPath == "" && m.ReadOnly
		}
	}
	var vol bool
	for _, v := range pod.Volumes {
		vol = vol || (v.Secret != nil && v.Secret.SecretName == "pub-nats")
	}
	if !mounted || !vol {
		t.Fatalf("creds not mounted as a directory from Secret pub-nats: %+v %+v", pod.Containers[0].VolumeMounts, pod.Volumes)
	}
	creds := secretData(t, ns, "pub-nats")[platformv1.NatsCredsKey]
	nc, err := stacknats.Connect(srv.URL(), creds, natsgo.MaxReconnects(0), natsgo.CustomInboxPrefix(messaging.InboxPrefix(ns)))
	if err != nil {
		t.Fatalf("the app's creds: %v", err)
	}
	sub, err := nc.SubscribeSync(ns + ".orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(ns+".orders", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("publishing to its own subject: %v", err)
	}
	nc.Close()
	appKey := getNatsUser(t, ns, "pub").Status.UserPublicKey

	// A preview gets its own user, in its own namespace, with that
	// namespace's subjects: not the app's key, not the app's subjects.
	create(t, newPreview(ns, "pub", 3))
	waitPreviewPhase(t, ns, "pub-pr-3", platformv1.PhaseRunning)
	list := &platformv1.NatsUserList{}
	if err := k8s.List(ctx, list, client.MatchingLabels{platformv1.LabelPreview: "pub-pr-3"}); err != nil || len(list.Items) != 1 {
		t.Fatalf("the preview's NatsUsers: %v %v", list.Items, err)
	}
	pu := list.Items[0]
	if pu.Namespace == ns || pu.Status.UserPublicKey == "" || pu.Status.UserPublicKey == appKey {
		t.Fatalf("the preview's user: namespace %s, key %q (the app's %q)", pu.Namespace, pu.Status.UserPublicKey, appKey)
	}
	previewCreds := secretData(t, pu.Namespace, "pub-nats")[platformv1.NatsCredsKey]
	pc, err := stacknats.Connect(srv.URL(), previewCreds, natsgo.MaxReconnects(0), natsgo.CustomInboxPrefix(messaging.InboxPrefix(pu.Namespace)))
	if err != nil {
		t.Fatalf("the preview's creds: %v", err)
	}
	psub, err := pc.SubscribeSync(pu.Namespace + ".orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Publish(pu.Namespace+".orders", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := psub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("the preview publishing to its namespace's subject: %v", err)
	}
	pc.Close()
	if err := k8s.Delete(ctx, getPreview(t, ns, "pub-pr-3")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "the preview's creds to be refused once it is gone", func() error {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pub-pr-3"}, &platformv1.PreviewEnvironment{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("preview still there (%v)", err)
		}
		if nc, err := stacknats.Connect(srv.URL(), previewCreds, natsgo.MaxReconnects(0)); err == nil {
			nc.Close()
			return fmt.Errorf("the deleted preview's creds still connect")
		}
		return nil
	})

	// Removing spec.messaging revokes and removes.
	update(t, client.ObjectKey{Namespace: ns, Name: "pub"}, &platformv1.Application{}, func(a *platformv1.Application) { a.Spec.Messaging = nil })
	eventually(t, 60*time.Second, "the NatsUser to go and the creds to be refused", func() error {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pub"}, &platformv1.NatsUser{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("NatsUser still there (%v)", err)
		}
		if nc, err := stacknats.Connect(srv.URL(), creds, natsgo.MaxReconnects(0)); err == nil {
			nc.Close()
			return fmt.Errorf("the removed user's creds still connect")
		}
		return nil
	})
	eventually(t, 60*time.Second, "MessagingReady=True/Disabled", func() error {
		c := condition(getApp(t, ns, "pub"), platformv1.ConditionMessagingReady)
		if c.Status != metav1.ConditionTrue || c.Reason != platformv1.ReasonDisabled {
			return fmt.Errorf("%+v", c)
		}
		return nil
	})

	// Deleting the app waits for its user's revocation: the app goes only
	// after the user, and then the creds are refused.
	update(t, client.ObjectKey{Namespace: ns, Name: "pub"}, &platformv1.Application{}, func(a *platformv1.Application) {
		a.Spec.Messaging = &platformv1.MessagingSpec{Enabled: true}
	})
	var again []byte
	eventually(t, 60*time.Second, "a new user's creds", func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pub-nats"}, s); err != nil {
			return err
		}
		again = s.Data[platformv1.NatsCredsKey]
		return nil
	})
	app = getApp(t, ns, "pub")
	if !slices.Contains(app.Finalizers, platformv1.FinalizerMessaging) {
		t.Fatalf("finalizers %v lack %s", app.Finalizers, platformv1.FinalizerMessaging)
	}
	if err := k8s.Delete(ctx, app); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "the app to go", func() error {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pub"}, &platformv1.Application{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("app still there (%v)", err)
		}
		return nil
	})
	if nc, err := stacknats.Connect(srv.URL(), again, natsgo.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("the deleted app's creds still connect: the app went before the revocation")
	}
}

func getNatsUser(t *testing.T, ns, name string) *platformv1.NatsUser {
	t.Helper()
	u := &platformv1.NatsUser{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	return u
}
