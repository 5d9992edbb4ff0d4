package application

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	capdatabase "github.com/plattr/plattr/internal/capability/database"
	"github.com/plattr/plattr/internal/capability/storage"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/controller/wake"
	"github.com/plattr/plattr/internal/naming"
)

// sweepDrift lists the settled apps every DRIFT_CHECK_INTERVAL and asks
// the database and storage capabilities whether what they gave each app
// drifted — a schema or role dropped by hand, a password or key changed
// behind the Secret's back (their Drifted checks) — with one query to each
// backend for all of them, and reconciles only those that did. Idle apps
// are not reconciled and nothing is written when nothing drifted. Only the
// leader reconciles, so only it sweeps (wake.OnLeader).
func (r *Reconciler) sweepDrift(ctx context.Context) error {
	return wake.Every(ctx, r.Config.DriftCheckInterval, r.kit.Wake(), r.kit.Key, func(ctx context.Context) []types.NamespacedName {
		drifted, err := r.drifted(ctx)
		if err != nil {
			// A backend outage is the reconciler's to report; try next time.
			log.FromContext(ctx).V(1).Info("drift sweep skipped", "error", err.Error())
		}
		return drifted
	})
}

// drifted returns the apps whose database or object-store key drifted.
func (r *Reconciler) drifted(ctx context.Context) ([]types.NamespacedName, error) {
	list := &platformv1.ApplicationList{}
	if err := r.List(ctx, list); err != nil {
		return nil, err
	}
	var dbApps, storageApps []*platformv1.Application
	var dbChecks []capdatabase.Check
	var storageChecks []storage.Check
	for i := range list.Items {
		app := &list.Items[i]
		// Only settled apps: any other is being reconciled anyway.
		if app.Status.Phase != platformv1.PhaseRunning || !app.DeletionTimestamp.IsZero() {
			continue
		}
		tenant, err := r.tenantOf(ctx, app.Namespace)
		if err != nil {
			return nil, err
		}
		s := &scope{Run: kit.Begin(app), app: app, names: naming.For(app, tenant)}
		t := target(s)
		if app.Spec.StorageEnabled() {
			storageApps = append(storageApps, app)
			storageChecks = append(storageChecks, storage.Check{Target: t, Spec: storageSpec(s.names, r.Config.BaseDomain)})
		}
		if app.Spec.DatabaseEnabled() {
			dbApps = append(dbApps, app)
			dbChecks = append(dbChecks, capdatabase.Check{Target: t, Spec: databaseSpec(s.names)})
		}
	}
	var out []types.NamespacedName
	add := func(apps []*platformv1.Application, drifted []bool) {
		for i, app := range apps {
			if drifted[i] {
				out = append(out, client.ObjectKeyFromObject(app))
			}
		}
	}
	drifted, err := r.Caps.Storage.DriftedAll(ctx, storageChecks)
	if err != nil {
		return nil, err
	}
	add(storageApps, drifted)
	if drifted, err = r.Caps.Database.DriftedAll(ctx, dbChecks); err != nil {
		return out, err
	}
	add(dbApps, drifted)
	return out, nil
}
