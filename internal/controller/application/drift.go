package application

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/controller/wake"
	"github.com/plattr/plattr/internal/naming"
)

// driftSweep finds Running apps whose database no longer matches what
// they were given — a schema or role dropped by hand, login revoked, a
// password changed behind the Secret's back (a restored backup, a DBA) —
// with one catalog query per interval, and apps whose object-store key
// differs from their Secret's (changed on the store, or a key write from an
// operator killed mid-rotation landing after its successor's) with one user
// listing, and reconciles only those. Idle apps are not reconciled and
// nothing is written when nothing drifted.
type driftSweep struct {
	r        *Reconciler
	interval time.Duration
	wake     chan<- event.TypedGenericEvent[*platformv1.Application]

	mu sync.Mutex
	// verified holds, per app, the last stored verifier found to match its
	// Secret, so the key derivation runs only when a verifier changes.
	verified map[types.NamespacedName]string
}

// NeedLeaderElection: only the leader reconciles, so only it sweeps.
func (d *driftSweep) NeedLeaderElection() bool { return true }

// Start sweeps every interval until ctx ends.
func (d *driftSweep) Start(ctx context.Context) error {
	return wake.Every(ctx, d.interval, d.wake, appKey, func(ctx context.Context) []types.NamespacedName {
		drifted, err := d.sweep(ctx)
		if err != nil {
			// A backend outage is the reconciler's to report; try next time.
			log.FromContext(ctx).V(1).Info("database drift sweep skipped", "error", err.Error())
		}
		return drifted
	})
}

// sweep returns the apps whose database or object-store key drifted.
func (d *driftSweep) sweep(ctx context.Context) ([]types.NamespacedName, error) {
	list := &platformv1.ApplicationList{}
	if err := d.r.List(ctx, list); err != nil {
		return nil, err
	}
	drifted, err := d.storageDrift(ctx, list)
	if err != nil {
		return nil, err
	}
	db, err := d.databaseDrift(ctx, list)
	return append(drifted, db...), err
}

// storageDrift returns the settled apps with per-app object-store keys
// whose user is missing or holds another secret than the app's Secret.
func (d *driftSweep) storageDrift(ctx context.Context, list *platformv1.ApplicationList) ([]types.NamespacedName, error) {
	if d.r.Store == nil || !d.r.Store.PerAppUsers() {
		return nil, nil
	}
	var settled []*platformv1.Application
	for i := range list.Items {
		app := &list.Items[i]
		if app.Spec.StorageEnabled() && app.Status.Phase == platformv1.PhaseRunning && app.DeletionTimestamp.IsZero() {
			settled = append(settled, app)
		}
	}
	if len(settled) == 0 {
		return nil, nil
	}
	secrets, err := d.r.Store.UserSecrets(ctx)
	if err != nil {
		return nil, err
	}
	var drifted []types.NamespacedName
	for _, app := range settled {
		secret := &corev1.Secret{}
		if err := d.r.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: naming.ObjectsFor(app.Name).StorageSecret}, secret); err != nil {
			continue // the reconciler notices a missing Secret by itself
		}
		stored, ok := secrets[string(secret.Data[platformv1.KeyAccessKeyID])]
		if !ok || stored != string(secret.Data[platformv1.KeySecretAccessKey]) {
			drifted = append(drifted, client.ObjectKeyFromObject(app))
		}
	}
	return drifted, nil
}

// databaseDrift returns the settled apps whose database drifted.
func (d *driftSweep) databaseDrift(ctx context.Context, list *platformv1.ApplicationList) ([]types.NamespacedName, error) {
	var apps []*platformv1.Application
	var names []naming.Database
	for i := range list.Items {
		app := &list.Items[i]
		// Only settled apps: any other is being reconciled anyway.
		if app.Spec.DatabaseEnabled() && app.Status.Phase == platformv1.PhaseRunning && app.DeletionTimestamp.IsZero() {
			tenant, err := d.r.tenantOf(ctx, app.Namespace)
			if err != nil {
				return nil, err
			}
			apps = append(apps, app)
			names = append(names, naming.For(app, tenant).Database())
		}
	}
	if len(apps) == 0 {
		return nil, nil
	}
	observed, err := d.r.DB.Survey(ctx, names)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[types.NamespacedName]bool{}
	var drifted []types.NamespacedName
	for i, app := range apps {
		key := client.ObjectKeyFromObject(app)
		seen[key] = true
		o := observed[names[i].AppRole]
		if !o.SchemaExists || !o.RoleCanLogin {
			drifted = append(drifted, key)
			continue
		}
		if o.Verifier == "" || d.verified[key] == o.Verifier {
			continue
		}
		secret := &corev1.Secret{}
		if err := d.r.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: naming.ObjectsFor(app.Name).DatabaseSecret}, secret); err != nil {
			continue // the reconciler notices a missing Secret by itself
		}
		if d.r.DB.PasswordMatches(o.Verifier, string(secret.Data[platformv1.KeyDBPassword])) {
			d.verified[key] = o.Verifier
		} else {
			drifted = append(drifted, key)
		}
	}
	for key := range d.verified {
		if !seen[key] {
			delete(d.verified, key)
		}
	}
	return drifted, nil
}
