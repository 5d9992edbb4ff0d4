package nats

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// waitRefused waits for the user's Accepted=False with reason and a message
// containing want, and checks no credentials Secret was written.
func waitRefused(t *testing.T, u *platformv1.NatsUser, reason, want string) {
	t.Helper()
	waitFor(t, "NatsUser "+u.Namespace+"/"+u.Name+" to be refused", func() bool {
		if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(u), u); err != nil {
			return false
		}
		c := condition(u, platformv1.ConditionAccepted)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == reason && strings.Contains(c.Message, want)
	})
	err := k8s.Get(t.Context(), client.ObjectKey{Namespace: u.Namespace, Name: u.Spec.CredentialsSecret.Name}, &corev1.Secret{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("a refused user got a credentials Secret (err %v)", err)
	}
	if u.Status.UserPublicKey != "" {
		t.Fatalf("a refused user got a key: %s", u.Status.UserPublicKey)
	}
}

// The attacker is a team writing NatsUsers (and NatsAccounts) in its own
// namespace: outside the account's selector, asking for another team's
// subjects or every inbox, naming an account of its own making, or taking
// a Secret that is not its user's. Each is refused; none gets credentials,
// and the foreign Secret is left as it was.
func TestAttacker(t *testing.T) {
	op := startOperator(t, nil)
	defer op.stop()
	makeNamespace(t, "mallory", map[string]string{"team": "mallory"})
	makeNamespace(t, "team-c", map[string]string{"nats": "yes"})
	makeAccount(t, platformNS, "restricted", &metav1.LabelSelector{MatchLabels: map[string]string{"nats": "yes"}})

	outside := user("mallory", "outside", "restricted")
	// Another namespace's subjects, through an account that selects it.
	theft := user("team-c", "theft", "restricted", "team-a.>")
	inbox := user("team-c", "inbox", "restricted")
	inbox.Spec.Permissions.Sub.Allow = []string{"_INBOX.>"}
	// An account the team made itself, in its own namespace.
	makeAccount(t, "mallory", "own", &metav1.LabelSelector{})
	own := user("mallory", "own", "own", "team-a.>")
	for _, u := range []*platformv1.NatsUser{outside, theft, inbox, own} {
		if err := k8s.Create(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	waitRefused(t, outside, platformv1.ReasonNotAllowed, "namespace mallory is not selected by NatsAccount restricted's spec.namespaceSelector")
	waitRefused(t, theft, platformv1.ReasonNotAllowed, `spec.permissions.pub.allow: "team-a.>" is outside namespace team-c's subject space`)
	waitRefused(t, inbox, platformv1.ReasonNotAllowed, `spec.permissions.sub.allow: "_INBOX.>" is outside`)
	waitRefused(t, own, platformv1.ReasonAccountNotFound, "NatsAccount "+platformNS+"/own")
	if c := condition(theft, platformv1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("Ready of a refused user: %+v", c)
	}
	acct := &platformv1.NatsAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "mallory", Name: "own"}}
	waitFor(t, "the team's own NatsAccount to be marked not honoured", func() bool {
		if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(acct), acct); err != nil {
			return false
		}
		for _, c := range acct.Status.Conditions {
			if c.Type == platformv1.ConditionPushed && c.Reason == platformv1.ReasonNotHonoured {
				return acct.Status.AccountPublicKey == ""
			}
		}
		return false
	})

	// A Secret that is not the user's: never overwritten.
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-c", Name: "victim"}, Data: map[string][]byte{"password": []byte("hunter2")}}
	if err := k8s.Create(t.Context(), foreign); err != nil {
		t.Fatal(err)
	}
	grab := user("team-c", "grab", "restricted")
	grab.Spec.CredentialsSecret.Name = "victim"
	if err := k8s.Create(t.Context(), grab); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Secret conflict", func() bool {
		if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(grab), grab); err != nil {
			return false
		}
		c := condition(grab, platformv1.ConditionCredentialsIssued)
		return c != nil && c.Reason == platformv1.ReasonSecretConflict && grab.Status.Phase == platformv1.PhaseFailed
	})
	after := &corev1.Secret{}
	if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(foreign), after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != foreign.ResourceVersion || string(after.Data["password"]) != "hunter2" || len(after.Data) != 1 {
		t.Fatal("the foreign Secret was written")
	}
}

// Admission names the field: a shared subject of every inbox, a lifetime
// under an hour, a renewal window as long as the lifetime.
func TestAdmission(t *testing.T) {
	for _, c := range []struct {
		obj  client.Object
		want string
	}{
		{&platformv1.NatsAccount{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: "bad"}, Spec: platformv1.NatsAccountSpec{SharedSubjects: []string{"_INBOX.>"}}}, "spec.sharedSubjects"},
		{func() client.Object {
			u := user("team-c", "short", "restricted")
			u.Spec.ExpiresIn = &metav1.Duration{Duration: 60e9}
			return u
		}(), "spec.expiresIn must be at least 1h"},
		{func() client.Object {
			u := user("team-c", "renew", "restricted")
			u.Spec.ExpiresIn, u.Spec.RenewBefore = &metav1.Duration{Duration: 2 * 3600e9}, &metav1.Duration{Duration: 2 * 3600e9}
			return u
		}(), "spec.renewBefore must be shorter than spec.expiresIn"},
		{func() client.Object {
			u := user("team-c", "policy", "restricted")
			u.Spec.DeletionPolicy = "Delete"
			return u
		}(), "spec.deletionPolicy"},
	} {
		err := k8s.Create(t.Context(), c.obj)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("create %s: %v, want an error naming %q", c.obj.GetName(), err, c.want)
		}
	}
}

// A namespace the account stops selecting loses its credentials: the key
// is revoked on the server and the Secret removed.
func TestDeselectedNamespaceLosesItsCredentials(t *testing.T) {
	op := startOperator(t, nil)
	defer op.stop()
	makeNamespace(t, "team-d", map[string]string{"nats": "yes"})
	acct := makeAccount(t, platformNS, "narrowing", &metav1.LabelSelector{MatchLabels: map[string]string{"nats": "yes"}})
	u := user("team-d", "app", "narrowing")
	if err := k8s.Create(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	waitReady(t, u, nil)
	creds := creds(t, u).Data[platformv1.NatsCredsKey]
	if err := canPublish(t, creds, "team-d", "team-d.x"); err != nil {
		t.Fatal(err)
	}
	get(t, acct)
	acct.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"nats": "only-some"}}
	if err := k8s.Update(t.Context(), acct); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, u, platformv1.ReasonNotAllowed, "namespace team-d is not selected")
	refusedToConnect(t, creds, "team-d")
}
