package application

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// errSecretConflict: the Secret belongs to someone else; the condition
// already says so and the failure is recorded.
var errSecretConflict = errors.New("Secret is not managed by this Application")

// credentialsSecret reads the Secret a capability keeps its credentials in;
// nil when it does not exist yet. A Secret of that name that another owner
// wrote is never read or taken over: the capability's condition says so.
func (r *Reconciler) credentialsSecret(ctx context.Context, s *scope, condition, name, holds string) (*corev1.Secret, error) {
	secret, err := r.getSecret(ctx, s.app.Namespace, name)
	if err != nil || secret == nil {
		return nil, err
	}
	if !ownedBy(secret, s.app) {
		setCondition(s.app, condition, metav1.ConditionFalse, platformv1.ReasonSecretConflict,
			fmt.Sprintf("Secret %s exists and is not managed by this Application; delete or rename it so Plattr can write %s", name, holds))
		return nil, s.fail(fmt.Errorf("%w: %s/%s", errSecretConflict, s.app.Namespace, name))
	}
	return secret, nil
}

// errRotationPending: a credentials Secret was deleted while the reconcile
// that read it was running.
var errRotationPending = errors.New("credentials Secret deleted during the reconcile")

// applyCredentials writes a credentials Secret. If the Secret existed when
// the reconcile read it and is gone now, someone deleted it meanwhile —
// which asks for new credentials — so it is not written back with the old
// ones: the condition says so and the next reconcile (moments later, the
// deletion is watched) issues new ones.
func (r *Reconciler) applyCredentials(ctx context.Context, s *scope, condition string, read *corev1.Secret, desired *corev1ac.SecretApplyConfiguration) error {
	if read != nil {
		now, err := r.getSecret(ctx, read.Namespace, read.Name)
		if err != nil {
			return err
		}
		if now == nil || now.UID != read.UID {
			setCondition(s.app, condition, metav1.ConditionFalse, platformv1.ReasonRotating,
				fmt.Sprintf("Secret %s was deleted during this reconcile; issuing new credentials", read.Name))
			return s.fail(fmt.Errorf("%w: %s/%s", errRotationPending, read.Namespace, read.Name))
		}
	}
	return applyChild(ctx, r, s, &corev1.Secret{}, desired, corev1ac.ExtractSecret)
}

// getSecret reads a Secret from the cache and confirms a miss against the
// API server: acting on a stale miss would rotate working credentials.
func (r *Reconciler) getSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	secret := &corev1.Secret{}
	err := r.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, secret)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !secret.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return secret, nil
}

// ownedBy reports whether obj's controller is app.
func ownedBy(obj metav1.Object, app *platformv1.Application) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == app.UID
}

// provide writes what a capability hands the app — a ConfigMap of settings
// and a Secret of credentials, both named name — and records them as
// sources of the app container's environment. read is the Secret as the
// phase found it (see applyCredentials).
func (r *Reconciler) provide(ctx context.Context, s *scope, from capability, condition, name string,
	config map[string]string, read *corev1.Secret, credentials map[string][]byte) error {
	app := s.app
	cm := corev1ac.ConfigMap(name, app.Namespace).
		WithLabels(labels(app)).WithOwnerReferences(ownerReference(app)).WithData(config)
	if err := applyChild(ctx, r, s, &corev1.ConfigMap{}, cm, corev1ac.ExtractConfigMap); err != nil {
		return fmt.Errorf("writing ConfigMap %s: %w", name, err)
	}
	sec := corev1ac.Secret(name, app.Namespace).
		WithLabels(labels(app)).WithOwnerReferences(ownerReference(app)).
		WithType(corev1.SecretTypeOpaque).WithData(credentials)
	if err := r.applyCredentials(ctx, s, condition, read, sec); err != nil {
		if errors.Is(err, errRotationPending) {
			return err
		}
		return fmt.Errorf("writing Secret %s: %w", name, err)
	}
	s.envSources = append(s.envSources,
		envSource{From: from, Kind: kindConfigMap, Name: name, Data: stringData(config)},
		envSource{From: from, Kind: kindSecret, Name: name, Data: credentials})
	return nil
}

func stringData(m map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}
