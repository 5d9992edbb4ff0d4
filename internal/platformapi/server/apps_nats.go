package server

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// +kubebuilder:rbac:groups=platform.internal,resources=natsusers,verbs=get

// natsUser is an app's NATS user as its page shows it: the subjects its
// JWT grants, when it expires and its state. Never the creds.
type natsUser struct {
	Name      string           `json:"name"`
	Account   string           `json:"account"`
	PublicKey string           `json:"publicKey,omitempty"`
	Publish   []string         `json:"publish"`
	Subscribe []string         `json:"subscribe"`
	ExpiresAt string           `json:"expiresAt,omitempty"`
	Phase     platformv1.Phase `json:"phase"`
	// Message is Ready's message (why it is not ready, when it is not).
	Message string `json:"message,omitempty"`
}

// natsUserOf reads the app's NatsUser past the cache (nil when the app asks
// for none, or the API has no direct client).
func (s *Server) natsUserOf(ctx context.Context, a *platformv1.Application) *natsUser {
	if !a.Spec.MessagingEnabled() || s.Kube == nil {
		return nil
	}
	v := &natsUser{Name: a.Name, Account: a.Spec.Messaging.Account, Publish: []string{}, Subscribe: []string{}}
	u := &platformv1.NatsUser{}
	if err := s.Kube.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: a.Name}, u); err != nil {
		v.Message = "not created yet"
		return v
	}
	v.Account, v.PublicKey, v.Phase = u.Spec.AccountRef.Name, u.Status.UserPublicKey, u.Status.Phase
	if g := u.Status.Subjects; g != nil {
		v.Publish, v.Subscribe = append(v.Publish, g.Publish...), append(v.Subscribe, g.Subscribe...)
	}
	if u.Status.ExpiresAt != nil {
		v.ExpiresAt = u.Status.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	for _, c := range u.Status.Conditions {
		if c.Type == platformv1.ConditionReady {
			v.Message = c.Message
		}
	}
	return v
}
