package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// natsStatus is an app's NATS user in `plattr status`.
type natsStatus struct {
	User      string           `json:"user"`
	Account   string           `json:"account"`
	PublicKey string           `json:"publicKey,omitempty"`
	Publish   []string         `json:"publish,omitempty"`
	Subscribe []string         `json:"subscribe,omitempty"`
	ExpiresAt string           `json:"expiresAt,omitempty"`
	Phase     platformv1.Phase `json:"phase"`
	Ready     string           `json:"ready,omitempty"`
}

// appNatsUser reads the app's NatsUser (nil when it asks for none).
func appNatsUser(ctx context.Context, c client.Client, app *platformv1.Application) *natsStatus {
	if !app.Spec.MessagingEnabled() {
		return nil
	}
	u := &platformv1.NatsUser{}
	st := &natsStatus{User: app.Name, Account: app.Spec.Messaging.Account}
	if err := c.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: app.Name}, u); err != nil {
		st.Ready = err.Error()
		return st
	}
	st.Account, st.PublicKey, st.Phase = u.Spec.AccountRef.Name, u.Status.UserPublicKey, u.Status.Phase
	if g := u.Status.Subjects; g != nil {
		st.Publish, st.Subscribe = g.Publish, g.Subscribe
	}
	if u.Status.ExpiresAt != nil {
		st.ExpiresAt = u.Status.ExpiresAt.UTC().Format(time.RFC3339)
	}
	for _, c := range u.Status.Conditions {
		if c.Type == platformv1.ConditionReady {
			st.Ready = c.Message
		}
	}
	return st
}

func printNats(w io.Writer, n *natsStatus) {
	if n == nil {
		return
	}
	fmt.Fprintf(w, "nats user %s\taccount %s\tphase %s\texpires %s\n", n.User, orDash(n.Account), orUnknown(n.Phase), orDash(n.ExpiresAt))
	fmt.Fprintf(w, "  publish %s\tsubscribe %s\n", orDash(strings.Join(n.Publish, ",")), orDash(strings.Join(n.Subscribe, ",")))
	if n.Phase != platformv1.PhaseRunning && n.Ready != "" {
		fmt.Fprintf(w, "  %s\n", n.Ready)
	}
	fmt.Fprintln(w)
}
