package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// What happens to an app's or a namespace's records when it is gone, so a
// new app or tenant under the same name starts with nothing of the old one
// (issue 18):
//
//   - roles on it are deleted;
//   - its tasks are tombstoned (retired_at): kept for audit, readable by id
//     by site admins only, never listed as the history of the name; its
//     Pending tasks are canceled, so a scheduled task never acts on a new
//     app of the same name;
//   - its status report and its entries in the change feed are deleted
//     (they are current state and a short replay window, not history);
//   - its cost samples are tombstoned (retired): site admins' totals still
//     count them, nobody else sees them.
//
// The app's recorded state (app_states) is deleted by the mirror, whose
// trigger publishes the deletion.

// ForgetApp forgets the app whose UID is uid under key. Records bound to no
// UID (made before UIDs were kept, or an Install that never made an app)
// go with it; records bound to another UID (a new app of the same name)
// stay.
func (s *Store) ForgetApp(ctx context.Context, app AppKey, uid string) error {
	key := []any{app.Namespace, app.Name}
	withUID := []any{app.Namespace, app.Name, uid}
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			// The feed first: what this forgetting publishes must stay.
			{`DELETE FROM events WHERE namespace = $1 AND app = $2`, key},
			{`DELETE FROM app_roles WHERE namespace = $1 AND app = $2 AND app_uid IN ($3, '')`, withUID},
			{`UPDATE tasks SET state = 'Canceled', reason = 'the app was deleted before this task ran', finished_at = now()
				WHERE namespace = $1 AND app = $2 AND app_uid = $3 AND state = 'Pending'`, withUID},
			{`UPDATE tasks SET retired_at = now() WHERE namespace = $1 AND app = $2 AND retired_at IS NULL
				AND (app_uid = $3 OR (app_uid = '' AND state NOT IN ('Pending', 'Started')))`, withUID},
			{`DELETE FROM status_reports WHERE namespace = $1 AND app = $2`, key},
			{`UPDATE cost_samples SET retired = true WHERE namespace = $1 AND app = $2 AND NOT retired`, key},
		} {
			if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// ForgetAppRoles removes the roles on the app whose UID is uid (an
// Uninstall: its roles end at once, the rest when the app is gone).
func (s *Store) ForgetAppRoles(ctx context.Context, app AppKey, uid string) error {
	_, err := s.Pool.Exec(ctx, `DELETE FROM app_roles WHERE namespace = $1 AND app = $2 AND app_uid IN ($3, '')`, app.Namespace, app.Name, uid)
	return err
}

// AppUID is one app object the store holds records of.
type AppUID struct {
	AppKey
	UID string
}

// RecordedAppUIDs lists the app objects that roles or unretired tasks are
// bound to, so those of apps deleted while no replica watched can be
// forgotten.
func (s *Store) RecordedAppUIDs(ctx context.Context) ([]AppUID, error) {
	rows, err := s.Pool.Query(ctx, `SELECT namespace, app, app_uid FROM app_roles WHERE app_uid <> ''
		UNION SELECT namespace, app, app_uid FROM tasks WHERE app_uid <> '' AND retired_at IS NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AppUID
	for rows.Next() {
		var a AppUID
		if err := rows.Scan(&a.Namespace, &a.Name, &a.UID); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ForgetNamespace forgets a namespace that is gone or no longer its
// tenant's: every role on it and its apps, and its apps' records as
// ForgetApp does, and its claim by a tenant.
func (s *Store) ForgetNamespace(ctx context.Context, namespace string) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			// The feed first: what this forgetting publishes must stay.
			"DELETE FROM events WHERE namespace = $1",
			"DELETE FROM app_roles WHERE namespace = $1",
			"DELETE FROM environment_roles WHERE namespace = $1",
			`UPDATE tasks SET state = 'Canceled', reason = 'the namespace was deleted before this task ran', finished_at = now()
				WHERE namespace = $1 AND state = 'Pending'`,
			"UPDATE tasks SET retired_at = now() WHERE namespace = $1 AND retired_at IS NULL AND state <> 'Started'",
			"DELETE FROM status_reports WHERE namespace = $1",
			"UPDATE cost_samples SET retired = true WHERE namespace = $1 AND NOT retired",
			"DELETE FROM tenant_namespaces WHERE namespace = $1",
		} {
			if _, err := tx.Exec(ctx, q, namespace); err != nil {
				return err
			}
		}
		return nil
	})
}

// NamespaceClaim is a namespace whose roles a tenant's members hold.
type NamespaceClaim struct {
	Namespace, Tenant, TenantUID string
}

// ClaimNamespace records that the Tenant with this UID owns namespace.
func (s *Store) ClaimNamespace(ctx context.Context, c NamespaceClaim) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO tenant_namespaces (namespace, tenant, tenant_uid) VALUES ($1, $2, $3)
		ON CONFLICT (namespace) DO UPDATE SET tenant = EXCLUDED.tenant, tenant_uid = EXCLUDED.tenant_uid
		WHERE tenant_namespaces.tenant_uid <> EXCLUDED.tenant_uid`, c.Namespace, c.Tenant, c.TenantUID)
	return err
}

// NamespaceClaims lists every claim.
func (s *Store) NamespaceClaims(ctx context.Context) (map[string]NamespaceClaim, error) {
	rows, err := s.Pool.Query(ctx, "SELECT namespace, tenant, tenant_uid FROM tenant_namespaces")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]NamespaceClaim{}
	for rows.Next() {
		var c NamespaceClaim
		if err := rows.Scan(&c.Namespace, &c.Tenant, &c.TenantUID); err != nil {
			return nil, err
		}
		out[c.Namespace] = c
	}
	return out, rows.Err()
}

// ClaimOf reads namespace's claim (ErrNotFound if none).
func (s *Store) ClaimOf(ctx context.Context, namespace string) (NamespaceClaim, error) {
	c := NamespaceClaim{Namespace: namespace}
	err := s.Pool.QueryRow(ctx, "SELECT tenant, tenant_uid FROM tenant_namespaces WHERE namespace = $1", namespace).Scan(&c.Tenant, &c.TenantUID)
	return c, notFound(err)
}
