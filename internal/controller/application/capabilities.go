package application

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Capabilities this version does not provide yet report NotSupported, so an
// app that asks for them is never marked Running without them.

func (r *Reconciler) reconcileStorage(_ context.Context, s *scope) error {
	notYetProvided(s, ConditionStorageReady, s.app.Spec.StorageEnabled(), "storage", "object storage")
	return nil
}

func (r *Reconciler) reconcileAuth(_ context.Context, s *scope) error {
	notYetProvided(s, ConditionAuthReady, s.app.Spec.AuthEnabled(), "auth", "auth (OIDC clients)")
	return nil
}

// notYetProvided sets a capability's condition: Disabled when the app does
// not ask for it, NotSupported (with the way out) when it does.
func notYetProvided(s *scope, condition string, enabled bool, field, what string) {
	if !enabled {
		setCondition(s.app, condition, metav1.ConditionTrue, ReasonDisabled, "spec."+field+".enabled is false")
		return
	}
	setCondition(s.app, condition, metav1.ConditionFalse, ReasonNotSupported,
		what+" is not provided by this operator version yet; set spec."+field+".enabled to false to run without it")
}

// reconcileAddons covers redis and search, which have no condition of their own.
func (r *Reconciler) reconcileAddons(_ context.Context, s *scope) error {
	if s.app.Spec.Redis != nil && s.app.Spec.Redis.Enabled {
		s.unsupported = append(s.unsupported, "spec.redis is not supported yet; set spec.redis.enabled to false")
	}
	if s.app.Spec.Search != nil && s.app.Spec.Search.Enabled {
		s.unsupported = append(s.unsupported, "spec.search is not supported yet; set spec.search.enabled to false")
	}
	return nil
}
