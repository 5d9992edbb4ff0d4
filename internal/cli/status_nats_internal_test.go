package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// What `plattr status` says of an app's NATS user: its subjects, expiry
// and state, and why it is not ready. (The user's status is the operator's;
// here it is written by hand into controller-runtime's fake client, since
// the test is of the printing, not of the operator.)
func TestStatusShowsTheNatsUser(t *testing.T) {
	exp := metav1.NewTime(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))
	app := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: platformv1.ApplicationSpec{Messaging: &platformv1.MessagingSpec{Enabled: true, Account: "default"}}}
	user := &platformv1.NatsUser{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: platformv1.NatsUserSpec{AccountRef: platformv1.LocalObjectName{Name: "default"}},
		Status: platformv1.NatsUserStatus{Phase: platformv1.PhaseRunning, UserPublicKey: "UABC", ExpiresAt: &exp,
			Subjects: &platformv1.NatsGranted{Publish: []string{"shop.>"}, Subscribe: []string{"shop.>", "_INBOX_shop.>"}}}}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(user).Build()
	st := appNatsUser(context.Background(), c, app)
	if st == nil || st.PublicKey != "UABC" || st.ExpiresAt != "2027-03-01T00:00:00Z" || len(st.Subscribe) != 2 {
		t.Fatalf("status: %+v", st)
	}
	var b bytes.Buffer
	printNats(&b, st)
	for _, want := range []string{"nats user web", "account default", "phase Running", "expires 2027-03-01T00:00:00Z", "publish shop.>", "subscribe shop.>,_INBOX_shop.>"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printed %q, want %q", b.String(), want)
		}
	}
	// An app that asks for none shows none; a missing user says so.
	if appNatsUser(context.Background(), c, &platformv1.Application{}) != nil {
		t.Error("an app without messaging has a NATS user")
	}
	missing := appNatsUser(context.Background(), c, &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"},
		Spec: platformv1.ApplicationSpec{Messaging: &platformv1.MessagingSpec{Enabled: true}}})
	b.Reset()
	printNats(&b, missing)
	if !strings.Contains(b.String(), "not found") {
		t.Errorf("a missing user printed %q", b.String())
	}
}
