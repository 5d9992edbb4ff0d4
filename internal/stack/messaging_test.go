package stack_test

import (
	"context"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/messaging"
	"github.com/plattr/plattr/internal/stack/nats"
)

// checkMessaging is the README's walk-through on the running stack: a
// NatsUser on the default account gets creds in its Secret, and with them
// a client publishes to its namespace's subjects at NATS_URL.
func checkMessaging(t *testing.T, vars map[string]string) {
	t.Helper()
	if vars["NATS_URL"] == "" {
		t.Fatal("dev env has no NATS_URL")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", vars["KUBECONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(rc, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	u := &platformv1.NatsUser{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders"}, Spec: platformv1.NatsUserSpec{
		AccountRef: platformv1.LocalObjectName{Name: "default"}, CredentialsSecret: platformv1.LocalObjectName{Name: "orders-nats"},
	}}
	if err := c.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	deadline := time.Now().Add(2 * time.Minute)
	for c.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "orders-nats"}, secret) != nil {
		if time.Now().After(deadline) {
			_ = c.Get(ctx, client.ObjectKeyFromObject(u), u)
			t.Fatalf("no creds for NatsUser shop/orders: %+v", u.Status.Conditions)
		}
		time.Sleep(200 * time.Millisecond)
	}
	nc, err := nats.Connect(vars["NATS_URL"], secret.Data[platformv1.NatsCredsKey], natsgo.CustomInboxPrefix(messaging.InboxPrefix("shop")))
	if err != nil {
		t.Fatalf("connecting with the user's creds: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("shop.orders.created")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("shop.orders.created", []byte(`{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("publishing with the user's own creds: %v", err)
	}
}
