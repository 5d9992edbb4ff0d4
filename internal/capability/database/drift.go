package database

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	backend "github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

// Check is one owner's question to DriftedAll.
type Check struct {
	Target capability.Target
	Spec   Spec
}

// Drifted reports whether the owner's database no longer matches what it
// was given: the schema or role dropped by hand, login revoked, or the
// password changed behind the Secret's back (a restored backup, a DBA).
// A missing Secret is not drift: the reconciler notices it by itself.
func (c *Capability) Drifted(ctx context.Context, t capability.Target, spec Spec) (bool, error) {
	drifted, err := c.DriftedAll(ctx, []Check{{Target: t, Spec: spec}})
	if err != nil {
		return false, err
	}
	return drifted[0], nil
}

// DriftedAll answers Drifted for many owners with one catalog query. Given
// every settled owner at once (the drift sweep), it also forgets the
// verifiers of owners no longer asked about.
func (c *Capability) DriftedAll(ctx context.Context, checks []Check) ([]bool, error) {
	out := make([]bool, len(checks))
	if len(checks) == 0 {
		return out, nil
	}
	if c.DB == nil {
		return nil, errors.New("no database is configured")
	}
	names := make([]naming.Database, len(checks))
	for i, ch := range checks {
		names[i] = ch.Spec.Names
	}
	observed, err := c.DB.Survey(ctx, names)
	if err != nil {
		return nil, capability.Unavailable(capability.BackendDatabase, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.verified == nil {
		c.verified = map[string]string{}
	}
	seen := map[string]bool{}
	for i, ch := range checks {
		role := ch.Spec.Names.AppRole
		seen[role] = true
		o := observed[role]
		switch {
		case !o.SchemaExists || !o.RoleCanLogin:
			out[i] = true
		case o.Verifier == "" || c.verified[role] == o.Verifier:
			// Not readable (not a superuser), or matched before.
		default:
			out[i] = !c.passwordMatches(ctx, ch, o)
		}
	}
	if len(checks) > 1 {
		for role := range c.verified {
			if !seen[role] {
				delete(c.verified, role)
			}
		}
	}
	return out, nil
}

// passwordMatches checks the stored verifier against the owner's Secret
// and remembers a match.
func (c *Capability) passwordMatches(ctx context.Context, ch Check, o backend.Observed) bool {
	secret := &corev1.Secret{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ch.Target.Namespace, Name: ch.Spec.Secret}, secret); err != nil {
		return true // the reconciler notices a missing Secret by itself
	}
	if !c.DB.PasswordMatches(o.Verifier, string(secret.Data[platformv1.KeyDBPassword])) {
		return false
	}
	c.verified[ch.Spec.Names.AppRole] = o.Verifier
	return true
}

// Copy copies the tables of schema from into the owner's (to), writing as
// the owner's role with its password, up to maxBytes on disk.
func (c *Capability) Copy(ctx context.Context, from, to naming.Database, password string, maxBytes int64) (backend.CopyResult, error) {
	return c.DB.CopySchema(ctx, from, to, password, maxBytes)
}
