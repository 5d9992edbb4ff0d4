package store

import (
	"context"
)

// Roles are one user's grants: environment (namespace) roles and app roles.
type Roles struct {
	Environments map[string]string // namespace → Admin | User
	Apps         map[AppKey]string // app → Owner | Maintainer
}

// AppKey names an app.
type AppKey struct{ Namespace, Name string }

// RolesOf loads a user's grants in one round trip.
func (s *Store) RolesOf(ctx context.Context, userID int64) (Roles, error) {
	r := Roles{Environments: map[string]string{}, Apps: map[AppKey]string{}}
	rows, err := s.Pool.Query(ctx, `
		SELECT namespace, '', role FROM environment_roles WHERE user_id = $1
		UNION ALL
		SELECT namespace, app, role FROM app_roles WHERE user_id = $1`, userID)
	if err != nil {
		return r, err
	}
	defer rows.Close()
	for rows.Next() {
		var ns, app, role string
		if err := rows.Scan(&ns, &app, &role); err != nil {
			return r, err
		}
		if app == "" {
			r.Environments[ns] = role
		} else {
			r.Apps[AppKey{ns, app}] = role
		}
	}
	return r, rows.Err()
}

// Member is one user's role somewhere.
type Member struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// SetEnvironmentRole grants role on namespace to the user with this email
// (created if new), replacing any earlier role there.
func (s *Store) SetEnvironmentRole(ctx context.Context, namespace, email, role string) error {
	u, err := s.EnsureUser(ctx, email, false)
	if err != nil {
		return err
	}
	_, err = s.Pool.Exec(ctx, `INSERT INTO environment_roles (namespace, user_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (namespace, user_id) DO UPDATE SET role = EXCLUDED.role WHERE environment_roles.role <> EXCLUDED.role`,
		namespace, u.ID, role)
	return err
}

// RemoveEnvironmentRole takes a user's role on a namespace away.
func (s *Store) RemoveEnvironmentRole(ctx context.Context, namespace, email string) error {
	tag, err := s.Pool.Exec(ctx, `DELETE FROM environment_roles r USING users u
		WHERE r.user_id = u.id AND r.namespace = $1 AND u.email = $2`, namespace, email)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	return err
}

// EnvironmentMembers lists who has a role on a namespace.
func (s *Store) EnvironmentMembers(ctx context.Context, namespace string) ([]Member, error) {
	return s.members(ctx, `SELECT u.email, r.role FROM environment_roles r JOIN users u ON u.id = r.user_id
		WHERE r.namespace = $1 ORDER BY u.email`, namespace)
}

// SetAppRole grants role on an app, bound to no particular app object
// (tests and roles older than UIDs); GrantAppRole is what the API uses.
func (s *Store) SetAppRole(ctx context.Context, app AppKey, email, role string) error {
	return s.GrantAppRole(ctx, app, "", email, role)
}

// GrantAppRole grants role on the app whose UID is uid: the grant ends
// with that app (ForgetApp), not with its name.
func (s *Store) GrantAppRole(ctx context.Context, app AppKey, uid, email, role string) error {
	u, err := s.EnsureUser(ctx, email, false)
	if err != nil {
		return err
	}
	_, err = s.Pool.Exec(ctx, `INSERT INTO app_roles (namespace, app, user_id, role, app_uid) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (namespace, app, user_id) DO UPDATE SET role = EXCLUDED.role, app_uid = EXCLUDED.app_uid
		WHERE app_roles.role <> EXCLUDED.role OR app_roles.app_uid <> EXCLUDED.app_uid`,
		app.Namespace, app.Name, u.ID, role, uid)
	return err
}

// RemoveAppRole takes a user's role on an app away.
func (s *Store) RemoveAppRole(ctx context.Context, app AppKey, email string) error {
	tag, err := s.Pool.Exec(ctx, `DELETE FROM app_roles r USING users u
		WHERE r.user_id = u.id AND r.namespace = $1 AND r.app = $2 AND u.email = $3`, app.Namespace, app.Name, email)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	return err
}

// AppMembers lists who has a role on an app.
func (s *Store) AppMembers(ctx context.Context, app AppKey) ([]Member, error) {
	return s.members(ctx, `SELECT u.email, r.role FROM app_roles r JOIN users u ON u.id = r.user_id
		WHERE r.namespace = $1 AND r.app = $2 ORDER BY u.email`, app.Namespace, app.Name)
}

// RoleNamespaces lists every namespace someone has a role on.
func (s *Store) RoleNamespaces(ctx context.Context) ([]string, error) {
	rows, err := s.Pool.Query(ctx, "SELECT DISTINCT namespace FROM environment_roles UNION SELECT DISTINCT namespace FROM app_roles")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ns string
		if err := rows.Scan(&ns); err != nil {
			return nil, err
		}
		out = append(out, ns)
	}
	return out, rows.Err()
}

func (s *Store) members(ctx context.Context, query string, args ...any) ([]Member, error) {
	rows, err := s.Pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.Email, &m.Role); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SyncEnvironmentRoles makes the roles on namespace exactly members
// (email → role), in one transaction: a tenant's members, as its Tenant
// lists them, are who may use its namespaces.
func (s *Store) SyncEnvironmentRoles(ctx context.Context, namespace string, members map[string]string) error {
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	emails := make([]string, 0, len(members))
	for email, role := range members {
		emails = append(emails, email)
		if _, err := tx.Exec(ctx, `INSERT INTO users (email) VALUES ($1) ON CONFLICT (email) DO NOTHING`, email); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO environment_roles (namespace, user_id, role)
			SELECT $1, id, $3 FROM users WHERE email = $2
			ON CONFLICT (namespace, user_id) DO UPDATE SET role = EXCLUDED.role WHERE environment_roles.role <> EXCLUDED.role`,
			namespace, email, role); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM environment_roles r USING users u
		WHERE r.user_id = u.id AND r.namespace = $1 AND NOT (u.email = ANY($2))`, namespace, emails); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// SetTenantState records a tenant's state; an unchanged one writes nothing.
func (s *Store) SetTenantState(ctx context.Context, name string, state []byte) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO tenant_states (name, state) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state WHERE tenant_states.state IS DISTINCT FROM EXCLUDED.state`, name, state)
	return err
}

// DeleteTenantState forgets a tenant that is gone.
func (s *Store) DeleteTenantState(ctx context.Context, name string) error {
	_, err := s.Pool.Exec(ctx, "DELETE FROM tenant_states WHERE name = $1", name)
	return err
}
