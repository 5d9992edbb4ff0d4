package application

import (
	"context"
	"errors"
	"fmt"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

// reconcileDatabase provisions the schema and roles and keeps the app's
// Secret. The password in the Secret is the source of truth: it is only
// replaced when the Secret is gone (deleting the Secret is how a team asks
// for rotation), and then PostgreSQL gets the new password before the Secret
// is written, so a failure in between leaves the old pair working.
func (r *Reconciler) reconcileDatabase(ctx context.Context, s *scope) error {
	app := s.app
	if !app.Spec.DatabaseEnabled() {
		setCondition(app, platformv1.ConditionDatabaseReady, metav1.ConditionTrue, platformv1.ReasonDisabled, "spec.database.enabled is false")
		return nil
	}
	names := naming.DatabaseFor(app)
	owner := database.Owner{Namespace: app.Namespace, Name: app.Name}
	secretName := naming.ObjectsFor(app.Name).DatabaseSecret

	secret, err := r.credentialsSecret(ctx, s, platformv1.ConditionDatabaseReady, secretName, "the credentials")
	if err != nil {
		if errors.Is(err, errSecretConflict) {
			return err
		}
		return r.databaseFailed(s, err)
	}
	var password string
	if secret != nil && len(secret.Data[platformv1.KeyDBPassword]) > 0 {
		password = string(secret.Data[platformv1.KeyDBPassword])
		change, err := r.DB.Ensure(ctx, names, owner, password)
		if err != nil {
			return r.databaseFailed(s, err)
		}
		if change.PasswordRestored {
			r.Recorder.Eventf(app, nil, corev1.EventTypeWarning, EventPasswordRestored, "Reconcile",
				"the password of role %s no longer matched Secret %s (a restored backup or a change by hand) and was set back", names.AppRole, secretName)
		}
	} else {
		if password, err = database.NewPassword(); err != nil {
			return r.databaseFailed(s, err)
		}
		if err := r.DB.Rotate(ctx, names, owner, password); err != nil {
			return r.databaseFailed(s, err)
		}
		if s.before.Status.ObservedGeneration > 0 {
			r.Recorder.Eventf(app, nil, corev1.EventTypeNormal, EventRotated, "Rotate",
				"Secret %s was missing: issued a new password for role %s", secretName, names.AppRole)
		}
	}

	info := r.DB.Connection(names, password)
	desired := corev1ac.Secret(secretName, app.Namespace).
		WithLabels(labels(app)).
		WithOwnerReferences(ownerReference(app)).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{
			platformv1.KeyDatabaseURL:        []byte(info.URL),
			platformv1.KeyDBHost:             []byte(info.Host),
			platformv1.KeyDBPort:             []byte(info.Port),
			platformv1.KeyDBName:             []byte(info.Name),
			platformv1.KeyDBUser:             []byte(info.User),
			platformv1.KeyDBPassword:         []byte(info.Password),
			platformv1.KeyDBSchema:           []byte(info.Schema),
			platformv1.KeyDBPostgRESTChannel: []byte(names.Channel),
		})
	if err := r.applyCredentials(ctx, s, platformv1.ConditionDatabaseReady, secret, desired); err != nil {
		if errors.Is(err, errRotationPending) {
			return err
		}
		return r.databaseFailed(s, fmt.Errorf("writing Secret %s: %w", secretName, err))
	}
	s.envSources = append(s.envSources, envSource{From: capabilityDatabase, Kind: kindSecret, Name: secretName, Data: desired.Data})
	setCondition(app, platformv1.ConditionDatabaseReady, metav1.ConditionTrue, platformv1.ReasonProvisioned,
		fmt.Sprintf("schema %s, role %s; credentials in Secret %s", names.Schema, names.AppRole, secretName))
	return nil
}

func (r *Reconciler) databaseFailed(s *scope, err error) error {
	if errors.Is(err, database.ErrConflict) {
		setCondition(s.app, platformv1.ConditionDatabaseReady, metav1.ConditionFalse, platformv1.ReasonSchemaConflict, err.Error())
	} else {
		setCondition(s.app, platformv1.ConditionDatabaseReady, metav1.ConditionFalse, platformv1.ReasonDatabaseUnavailable,
			fmt.Sprintf("PostgreSQL: %v; check DB_ADMIN_URL and that the server is reachable", err))
		r.backends.failed(backendDatabase, s.app) // retried at once when it answers
	}
	return s.fail(err)
}
