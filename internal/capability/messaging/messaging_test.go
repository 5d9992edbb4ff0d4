package messaging

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		s, p string
		want bool
	}{
		{"team-a.orders", "team-a.>", true},
		{"team-a.>", "team-a.>", true},
		{"team-a.*.x", "team-a.>", true},
		{"team-a", "team-a.>", false},
		{">", "team-a.>", false},
		{"*.orders", "team-a.>", false},
		{"team-b.orders", "team-a.>", false},
		{"team-a.>", "team-a.*", false},
		{"team-a.x", "team-a.*", true},
		{"team-a.x.y", "team-a.*", false},
		{"events.public", "events.public", true},
		{"events.public.x", "events.public", false},
		{"_INBOX.>", "_INBOX_team-a.>", false},
		{"_INBOX_team-a.abc", "_INBOX_team-a.>", true},
	} {
		if got := Within(c.s, c.p); got != c.want {
			t.Errorf("Within(%q, %q) = %v, want %v", c.s, c.p, got, c.want)
		}
	}
}

// Grant is the attacker's boundary: every subject outside the namespace's
// space or the account's shared subjects is refused, naming the field and
// the subject; an empty allow list is the namespace's own space, never
// everything; nobody gets _INBOX.>.
func TestGrant(t *testing.T) {
	acct := platformv1.NatsAccountSpec{SharedSubjects: []string{"events.public.>"}}
	perms := func(pub, sub []string) platformv1.NatsPermissions {
		return platformv1.NatsPermissions{Pub: platformv1.NatsSubjects{Allow: pub}, Sub: platformv1.NatsSubjects{Allow: sub}}
	}
	for _, c := range []struct {
		name    string
		p       platformv1.NatsPermissions
		wantErr string
		pub     []string
		sub     []string
	}{
		{name: "defaults", p: perms(nil, nil), pub: []string{"team-a.>"}, sub: []string{"team-a.>", "_INBOX_team-a.>"}},
		{name: "own and shared", p: perms([]string{"team-a.orders", "events.public.x"}, []string{"events.public.>"}),
			pub: []string{"events.public.x", "team-a.orders"}, sub: []string{"events.public.>", "_INBOX_team-a.>"}},
		{name: "another namespace", p: perms([]string{"team-b.orders"}, nil), wantErr: `spec.permissions.pub.allow: "team-b.orders" is outside namespace team-a`},
		{name: "everything", p: perms(nil, []string{">"}), wantErr: `spec.permissions.sub.allow: ">" is outside`},
		{name: "every inbox", p: perms(nil, []string{"_INBOX.>"}), wantErr: `"_INBOX.>" is outside`},
		{name: "wildcard first token", p: perms([]string{"*.orders"}, nil), wantErr: `"*.orders" is outside`},
		{name: "own inbox", p: perms(nil, []string{"_INBOX_team-a.>"}), pub: []string{"team-a.>"}, sub: []string{"_INBOX_team-a.>"}},
		{name: "inbox only to subscribe", p: perms([]string{"_INBOX_team-a.x"}, nil), wantErr: "spec.permissions.pub.allow"},
		{name: "bad subject", p: perms([]string{"team-a..x"}, nil), wantErr: "is not a NATS subject"},
		{name: "bad deny", p: platformv1.NatsPermissions{Pub: platformv1.NatsSubjects{Deny: []string{"a.>.b"}}}, wantErr: "spec.permissions.pub.deny"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := Grant("team-a", acct, c.p)
			if c.wantErr != "" {
				if err == nil || !IsNotAllowed(err) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want NotAllowed containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(g.Publish, ",") != strings.Join(c.pub, ",") || strings.Join(g.Subscribe, ",") != strings.Join(c.sub, ",") {
				t.Fatalf("granted pub %v sub %v, want %v %v", g.Publish, g.Subscribe, c.pub, c.sub)
			}
		})
	}
}

func mustUser(t *testing.T) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return kp, pub
}

// Decide: the same claims re-signed later are Keep (iat, jti and exp never
// compared); a permission change re-signs the same key; only a rotation
// (or no key) makes a new one; nearing expiry re-signs.
func TestDecide(t *testing.T) {
	acct, _ := nkeys.CreateAccount()
	acctPub, _ := acct.PublicKey()
	user, userPub := mustUser(t)
	spec := platformv1.NatsUserSpec{Permissions: platformv1.NatsPermissions{Pub: platformv1.NatsSubjects{Allow: []string{"team-a.x"}}}}
	want := func(s platformv1.NatsUserSpec) func(string) *jwt.UserClaims {
		return func(pub string) *jwt.UserClaims {
			g, err := Grant("team-a", platformv1.NatsAccountSpec{}, s.Permissions)
			if err != nil {
				t.Fatal(err)
			}
			return UserClaims(acctPub, pub, "team-a/app", s, g)
		}
	}
	now := time.Now()
	creds, _, err := Sign(acct, user, want(spec)(userPub), 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	wider := spec
	wider.Permissions.Pub.Allow = []string{"team-a.>"}
	otherAcct, _ := nkeys.CreateAccount()
	otherPub, _ := otherAcct.PublicKey()
	for _, c := range []struct {
		name     string
		cur      Current
		rotation string
		acct     string
		spec     platformv1.NatsUserSpec
		expires  time.Duration
		now      time.Time
		want     Action
		old      string
	}{
		{name: "nothing yet", cur: Current{}, want: NewKey},
		{name: "unchanged", cur: Current{Creds: creds}, want: Keep},
		{name: "unchanged an hour later", cur: Current{Creds: creds}, now: now.Add(time.Hour), want: Keep},
		{name: "permissions changed", cur: Current{Creds: creds}, spec: wider, want: Resign},
		{name: "expiresIn changed", cur: Current{Creds: creds}, expires: 48 * time.Hour, want: Resign},
		{name: "inside renewBefore", cur: Current{Creds: creds}, now: now.Add(21 * time.Hour), want: Resign},
		{name: "rotation", cur: Current{Creds: creds}, rotation: "2026-12", want: NewKey, old: userPub},
		{name: "account key changed", cur: Current{Creds: creds}, acct: otherPub, want: Resign},
		{name: "garbage", cur: Current{Creds: []byte("not creds")}, want: NewKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, a, exp, at := spec, acctPub, 24*time.Hour, now
			if c.spec.Permissions.Pub.Allow != nil {
				s = c.spec
			}
			if c.acct != "" {
				a = c.acct
			}
			if c.expires != 0 {
				exp = c.expires
			}
			if !c.now.IsZero() {
				at = c.now
			}
			p := Decide(c.cur, c.rotation, a, want(s), exp, 4*time.Hour, at)
			if p.Action != c.want || p.Old != c.old {
				t.Fatalf("Decide = %s (old %q, %s), want %s (old %q)", p.Action, p.Old, p.Why, c.want, c.old)
			}
			if p.Action == Resign {
				if pk, _ := p.Key.PublicKey(); pk != userPub {
					t.Fatalf("a re-sign changed the key: %s", pk)
				}
			}
		})
	}
}

// A JWT string changes with every signing; the hash does not.
func TestUserHashIgnoresIssuedAt(t *testing.T) {
	acct, _ := nkeys.CreateAccount()
	acctPub, _ := acct.PublicKey()
	user, pub := mustUser(t)
	c := UserClaims(acctPub, pub, "n", platformv1.NatsUserSpec{}, platformv1.NatsGranted{Publish: []string{"a.>"}})
	one, c1, err := Sign(acct, user, c, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // iat has one-second resolution
	two, c2, _ := Sign(acct, user, c, time.Hour, time.Now())
	if string(one) == string(two) {
		t.Fatal("two signings gave the same creds: iat did not move, the test proves nothing")
	}
	if UserHash(c1) != UserHash(c2) || UserHash(c1) != UserHash(c) {
		t.Fatal("the hashes of equal claims differ")
	}
}

type fakeBackend struct {
	held   map[string]string
	pushes int
	refuse error
}

func (f *fakeBackend) PushAccount(_ context.Context, pub, token string) error {
	f.pushes++
	if f.refuse != nil {
		return f.refuse
	}
	f.held[pub] = token
	return nil
}
func (f *fakeBackend) LookupAccount(_ context.Context, pub string) (string, error) {
	return f.held[pub], nil
}
func (f *fakeBackend) Ping(context.Context) error { return nil }

// EnsureAccount pushes only what the server does not hold yet, and reports
// a refusal with the server's message.
func TestEnsureAccount(t *testing.T) {
	sk, _ := nkeys.CreateOperator()
	acct, _ := nkeys.CreateAccount()
	pub, _ := acct.PublicKey()
	fb := &fakeBackend{held: map[string]string{}}
	c := &Capability{Backend: fb, SigningKey: sk}
	ctx := context.Background()
	h1, pushed, err := c.EnsureAccount(ctx, "default", pub, nil)
	if err != nil || !pushed {
		t.Fatalf("first push: %v %v", pushed, err)
	}
	for i := 0; i < 3; i++ {
		if _, pushed, err := c.EnsureAccount(ctx, "default", pub, nil); err != nil || pushed {
			t.Fatalf("unchanged account pushed again (%v, %v)", pushed, err)
		}
	}
	h2, pushed, _ := c.EnsureAccount(ctx, "default", pub, map[string]int64{"UXXX": 100})
	if !pushed || h2 == h1 {
		t.Fatal("a revocation did not push")
	}
	fb.refuse = &PushError{Code: 500, Message: "not trusted"}
	_, _, err = c.EnsureAccount(ctx, "default", pub, map[string]int64{"UXXX": 100, "UYYY": 1})
	if !IsRefused(err) || !strings.Contains(err.Error(), "not trusted") {
		t.Fatalf("err = %v", err)
	}
	if fb.pushes != 3 {
		t.Fatalf("%d pushes, want 3", fb.pushes)
	}
}
