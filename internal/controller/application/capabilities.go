package application

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Capabilities this version does not provide yet report NotSupported, so an
// app that asks for them is never marked Running without them.

func (r *Reconciler) reconcileStorage(_ context.Context, s *scope) error {
	if !s.app.Spec.StorageEnabled() {
		setCondition(s.app, ConditionStorageReady, metav1.ConditionTrue, ReasonDisabled, "spec.storage.enabled is false")
		return nil
	}
	setCondition(s.app, ConditionStorageReady, metav1.ConditionFalse, ReasonNotSupported,
		"object storage is not provided by this operator version yet; set spec.storage.enabled to false to run without it")
	return nil
}

func (r *Reconciler) reconcileAuth(_ context.Context, s *scope) error {
	if !s.app.Spec.AuthEnabled() {
		setCondition(s.app, ConditionAuthReady, metav1.ConditionTrue, ReasonDisabled, "spec.auth.enabled is false")
		return nil
	}
	setCondition(s.app, ConditionAuthReady, metav1.ConditionFalse, ReasonNotSupported,
		"auth (OIDC clients) is not provided by this operator version yet; set spec.auth.enabled to false to run without it")
	return nil
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
