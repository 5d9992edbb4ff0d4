package platformapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/testenv"
)

// The app view shows the app's NATS user and its state: none yet while the
// operator has no NATS server to make it, and the user's own state (here:
// waiting for its account) once it exists. Never its creds.
func TestAppViewShowsItsNatsUser(t *testing.T) {
	c := admin(t)
	s := spec("registry.example.com/talker:1")
	s.Messaging = &platformv1.MessagingSpec{Enabled: true}
	waitTask(t, c, createAppSpec(t, c, "team-a", "talker", s).ID, store.TaskDone)
	type view struct {
		Messaging *struct {
			Name, Account, Phase, Message, PublicKey string
			Publish, Subscribe                       []string
		} `json:"messaging"`
	}
	var v view
	c.must(t, 200, "GET", "/api/v1/apps/team-a/talker", nil, &v)
	if v.Messaging == nil || v.Messaging.Name != "talker" || v.Messaging.Message != "not created yet" {
		t.Fatalf("messaging before the user exists: %+v", v.Messaging)
	}
	u := &platformv1.NatsUser{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "talker"}, Spec: platformv1.NatsUserSpec{
		AccountRef: platformv1.LocalObjectName{Name: "default"}, CredentialsSecret: platformv1.LocalObjectName{Name: "talker-nats"}}}
	if err := kube.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Delete(context.Background(), u) })
	eventually(t, 60*time.Second, "the user's state in the app view", func() error {
		var v view
		c.must(t, 200, "GET", "/api/v1/apps/team-a/talker", nil, &v)
		if m := v.Messaging; m == nil || m.Account != "default" || m.Phase != string(platformv1.PhasePending) || !strings.Contains(m.Message, "NatsAccount") {
			return fmt.Errorf("%+v", m)
		}
		return nil
	})
	var plain view
	c.must(t, 200, "GET", "/api/v1/apps/team-a/talker", nil, &plain)
	if plain.Messaging.PublicKey != "" {
		t.Errorf("a user without credentials shows a key: %s", plain.Messaging.PublicKey)
	}
}

// The app page shows the NATS user's state, account and subjects.
func TestPortalShowsTheNatsUser(t *testing.T) {
	ctx := browser(t, 1280, 900)
	c := admin(t)
	if err := db.SetEnvironmentRole(context.Background(), "team-a", testenv.TestUserEmail, authz.EnvAdmin); err != nil {
		t.Fatal(err)
	}
	s := spec("registry.example.com/portal-talker:1")
	s.Messaging = &platformv1.MessagingSpec{Enabled: true}
	waitTask(t, c, createAppSpec(t, c, "team-a", "portal-talker", s).ID, store.TaskDone)
	signInDex(t, ctx)
	if err := chromedp.Run(ctx, chromedp.Navigate(apiA.URL+"/apps/team-a/portal-talker"), chromedp.WaitVisible(`#nats-user`)); err != nil {
		t.Fatal(err)
	}
	if got := textOf(t, ctx, "#facts"); !strings.Contains(got, "NATS user") || !strings.Contains(got, "default") || !strings.Contains(got, "not created yet") {
		t.Errorf("facts = %q", got)
	}
	screenshot(t, ctx, "app-nats-user")
}
