// Package database is the database capability: a schema and roles in
// PostgreSQL and the Secret that hands the app its credentials.
package database

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	backend "github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

// Name of the capability, in Sources.
const Name = "database"

// Backend is what the capability asks of PostgreSQL; *database.Provisioner
// implements it.
type Backend interface {
	Ensure(ctx context.Context, n naming.Database, o backend.Owner, password string) (backend.Change, error)
	Rotate(ctx context.Context, n naming.Database, o backend.Owner, password string) error
	Remove(ctx context.Context, n naming.Database, o backend.Owner, keepData bool) error
	Connection(n naming.Database, password string) backend.ConnectionInfo
	// Survey observes many owners' schemas and roles with one query, keyed
	// by app role; PasswordMatches checks a password against a stored
	// verifier. The drift check uses them.
	Survey(ctx context.Context, names []naming.Database) (map[string]backend.Observed, error)
	PasswordMatches(verifier, password string) bool
	// CopySchema copies one schema's tables into another (a preview's data).
	CopySchema(ctx context.Context, from, to naming.Database, toPassword string, maxBytes int64) (backend.CopyResult, error)
}

// Capability provisions databases.
type Capability struct {
	capability.Kube
	DB Backend

	mu sync.Mutex
	// verified holds, per app role, the last stored verifier found to
	// match its Secret, so the key derivation runs only when it changes.
	verified map[string]string
}

// Spec is what one owner asks of the database.
type Spec struct {
	Enabled bool
	Names   naming.Database
	// Owner is recorded on the schema and roles, so two owners never share them.
	Owner backend.Owner
	// Secret is the name of the credentials Secret, in the target's namespace.
	Secret string
}

// Ensure provisions the schema and roles and keeps the Secret. The password
// in the Secret is the source of truth: it is only replaced when the Secret
// is gone (deleting the Secret is how a team asks for rotation), and then
// PostgreSQL gets the new password before the Secret is written, so a
// failure in between leaves the old pair working. It returns the Secret as
// the workload's Source.
func (c *Capability) Ensure(ctx context.Context, t capability.Target, spec Spec) ([]capability.Source, error) {
	if !spec.Enabled {
		t.SetCondition(platformv1.ConditionDatabaseReady, metav1.ConditionTrue, platformv1.ReasonDisabled, "spec.database.enabled is false")
		return nil, nil
	}
	names := spec.Names
	secret, err := c.CredentialsSecret(ctx, t, platformv1.ConditionDatabaseReady, spec.Secret, "the credentials")
	if err != nil {
		return nil, c.failed(t, err)
	}
	var password string
	if secret != nil && len(secret.Data[platformv1.KeyDBPassword]) > 0 {
		password = string(secret.Data[platformv1.KeyDBPassword])
		change, err := c.DB.Ensure(ctx, names, spec.Owner, password)
		if err != nil {
			return nil, c.failed(t, err)
		}
		if change.PasswordRestored {
			c.Event(t, corev1.EventTypeWarning, platformv1.EventPasswordRestored, "Reconcile",
				"the password of role %s no longer matched Secret %s (a restored backup or a change by hand) and was set back", names.AppRole, spec.Secret)
		}
	} else {
		if password, err = backend.NewPassword(); err != nil {
			return nil, c.failed(t, err)
		}
		if err := c.DB.Rotate(ctx, names, spec.Owner, password); err != nil {
			return nil, c.failed(t, err)
		}
		if t.Established {
			c.Event(t, corev1.EventTypeNormal, platformv1.EventRotated, "Rotate",
				"Secret %s was missing: issued a new password for role %s", spec.Secret, names.AppRole)
		}
	}

	info := c.DB.Connection(names, password)
	data := map[string][]byte{
		platformv1.KeyDatabaseURL:        []byte(info.URL),
		platformv1.KeyDBHost:             []byte(info.Host),
		platformv1.KeyDBPort:             []byte(info.Port),
		platformv1.KeyDBName:             []byte(info.Name),
		platformv1.KeyDBUser:             []byte(info.User),
		platformv1.KeyDBPassword:         []byte(info.Password),
		platformv1.KeyDBSchema:           []byte(info.Schema),
		platformv1.KeyDBPostgRESTChannel: []byte(names.Channel),
	}
	if err := c.ApplyCredentials(ctx, t, platformv1.ConditionDatabaseReady, secret, t.CredentialsApply(spec.Secret, data)); err != nil {
		return nil, c.failed(t, fmt.Errorf("writing Secret %s: %w", spec.Secret, err))
	}
	t.SetCondition(platformv1.ConditionDatabaseReady, metav1.ConditionTrue, platformv1.ReasonProvisioned,
		fmt.Sprintf("schema %s, role %s; credentials in Secret %s", names.Schema, names.AppRole, spec.Secret))
	return []capability.Source{{From: Name, Kind: capability.KindSecret, Name: spec.Secret, Data: data}}, nil
}

// Remove drops the schema and roles, or with retain keeps the schema and
// its data and only ends the app's access.
func (c *Capability) Remove(ctx context.Context, spec Spec, retain bool) error {
	return c.DB.Remove(ctx, spec.Names, spec.Owner, retain)
}

// LastGood is the Secret an earlier reconcile wrote.
func (c *Capability) LastGood(ctx context.Context, t capability.Target, spec Spec) ([]capability.Source, error) {
	return c.Kube.LastGood(ctx, t, Name, spec.Secret, false)
}

// failed sets the condition for err, unless the step that failed already
// did, and classifies err for the controller.
func (c *Capability) failed(t capability.Target, err error) error {
	switch {
	case errors.Is(err, capability.ErrSecretConflict), errors.Is(err, capability.ErrRotationPending):
		return err // the condition says so already
	case errors.Is(err, backend.ErrConflict):
		t.SetCondition(platformv1.ConditionDatabaseReady, metav1.ConditionFalse, platformv1.ReasonSchemaConflict, err.Error())
		return err
	default:
		t.SetCondition(platformv1.ConditionDatabaseReady, metav1.ConditionFalse, platformv1.ReasonDatabaseUnavailable,
			fmt.Sprintf("PostgreSQL: %v; check DB_ADMIN_URL and that the server is reachable", err))
		return capability.Unavailable(capability.BackendDatabase, err)
	}
}
