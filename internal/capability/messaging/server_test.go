package messaging_test

import (
	"context"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/messaging"
	"github.com/plattr/plattr/internal/stack/nats"
	"github.com/plattr/plattr/internal/testenv"
)

// On a real server: an account pushed through the resolver (code 200)
// lets its users in; the server enforces the granted subjects; a revoked
// key cannot connect again; an account signed by a key the operator does
// not trust is refused with the server's message.
func TestServerEnforcesWhatWasSigned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := testenv.StartNATS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	sk, err := nkeys.FromSeed([]byte(srv.Keys.SigningKeySeed))
	if err != nil {
		t.Fatal(err)
	}
	backend := &messaging.Server{URL: srv.URL(), SystemCreds: []byte(srv.Keys.SystemUserCreds)}
	defer backend.Close()
	c := &messaging.Capability{Backend: backend, SigningKey: sk}
	acct, _ := nkeys.CreateAccount()
	acctPub, _ := acct.PublicKey()
	if _, pushed, err := c.EnsureAccount(ctx, "default", acctPub, nil); err != nil || !pushed {
		t.Fatalf("push: %v %v", pushed, err)
	}
	if _, pushed, err := c.EnsureAccount(ctx, "default", acctPub, nil); err != nil || pushed {
		t.Fatalf("the server's copy was not recognised as unchanged: %v %v", pushed, err)
	}

	issue := func(ns string, p platformv1.NatsPermissions) ([]byte, string) {
		g, err := messaging.Grant(ns, platformv1.NatsAccountSpec{}, p)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := nkeys.CreateUser()
		pub, _ := u.PublicKey()
		creds, _, err := messaging.Sign(acct, u, messaging.UserClaims(acctPub, pub, ns+"/u", platformv1.NatsUserSpec{}, g), time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return creds, pub
	}
	aCreds, aPub := issue("team-a", platformv1.NatsPermissions{})
	bCreds, _ := issue("team-b", platformv1.NatsPermissions{})

	errs := make(chan error, 10)
	a, err := nats.Connect(srv.URL(), aCreds, natsgo.MaxReconnects(0), natsgo.CustomInboxPrefix(messaging.InboxPrefix("team-a")),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("team-a's user: %v", err)
	}
	defer a.Close()
	sub, err := a.SubscribeSync("team-a.orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Publish("team-a.orders", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(10 * time.Second); err != nil || string(m.Data) != "hello" {
		t.Fatalf("allowed publish not delivered: %v", err)
	}
	// team-b's subjects: the server refuses the publish.
	_ = a.Publish("team-b.orders", []byte("x"))
	_ = a.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("unexpected error: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("publishing to team-b's subject was not refused by the server")
	}

	// Request/reply across teams is not possible through _INBOX.>: b cannot
	// read a's inbox.
	b, err := nats.Connect(srv.URL(), bCreds, natsgo.MaxReconnects(0), natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, _ = b.SubscribeSync("_INBOX.>")
	_ = b.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("unexpected error: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscribing to _INBOX.> was not refused")
	}

	// Revoked: the key cannot connect again.
	if _, pushed, err := c.EnsureAccount(ctx, "default", acctPub, map[string]int64{aPub: time.Now().Unix()}); err != nil || !pushed {
		t.Fatalf("revocation push: %v %v", pushed, err)
	}
	waitFor(t, "the revoked key to be refused", func() bool {
		nc, err := nats.Connect(srv.URL(), aCreds, natsgo.MaxReconnects(0))
		if err == nil {
			nc.Close()
			return false
		}
		return true
	})

	// A JWT whose subject is not the account pushed: the resolver answers
	// with an error, not code 200, and the push fails with its message.
	acct2, _ := nkeys.CreateAccount()
	acct2Pub, _ := acct2.PublicKey()
	skPub, _ := sk.PublicKey()
	token, err := messaging.AccountClaims("other", acct2Pub, skPub, nil).Encode(sk)
	if err != nil {
		t.Fatal(err)
	}
	err = backend.PushAccount(ctx, acctPub, token)
	if !messaging.IsRefused(err) || !strings.Contains(err.Error(), "subject does not match") {
		t.Fatalf("a mismatched push: err = %v, want the server's refusal", err)
	}
	t.Logf("refusal: %v", err)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
