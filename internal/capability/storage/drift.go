package storage

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
)

// Check is one owner's question to DriftedAll.
type Check struct {
	Target capability.Target
	Spec   Spec
}

// Drifted reports whether the owner's object-store key differs from its
// Secret's — the user is missing, or holds another secret (changed on the
// store, or a key write of an operator killed mid-rotation landing after
// its successor's). Without per-app users there is no key of its own to
// drift; a missing Secret is not drift: the reconciler notices it by itself.
func (c *Capability) Drifted(ctx context.Context, t capability.Target, spec Spec) (bool, error) {
	drifted, err := c.DriftedAll(ctx, []Check{{Target: t, Spec: spec}})
	if err != nil {
		return false, err
	}
	return drifted[0], nil
}

// DriftedAll answers Drifted for many owners with one listing of the
// store's users.
func (c *Capability) DriftedAll(ctx context.Context, checks []Check) ([]bool, error) {
	out := make([]bool, len(checks))
	if len(checks) == 0 || c.Store == nil || !c.Store.PerAppUsers() {
		return out, nil
	}
	stored, err := c.Store.UserSecrets(ctx)
	if err != nil {
		return nil, capability.Unavailable(capability.BackendObjectStore, err)
	}
	for i, ch := range checks {
		if !ch.Spec.Enabled {
			continue
		}
		secret := &corev1.Secret{}
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ch.Target.Namespace, Name: ch.Spec.Secret}, secret); err != nil {
			continue
		}
		key, ok := stored[string(secret.Data[platformv1.KeyAccessKeyID])]
		out[i] = !ok || key != string(secret.Data[platformv1.KeySecretAccessKey])
	}
	return out, nil
}
