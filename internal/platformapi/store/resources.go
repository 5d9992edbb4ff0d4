package store

import (
	"context"
	"encoding/json"

	"github.com/plattr/plattr/api/events"
)

// Resource is one Kubernetes object an app owns; its record is the
// resource event's payload.
type Resource = events.Resource

// ResourceKey names a resource.
type ResourceKey struct{ Kind, Namespace, Name string }

// SetResource records a resource; nothing is written when it is unchanged.
func (s *Store) SetResource(ctx context.Context, r Resource) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.Pool.Exec(ctx, `INSERT INTO k8s_resources (kind, namespace, name, app, data) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (kind, namespace, name) DO UPDATE SET app = EXCLUDED.app, data = EXCLUDED.data
		WHERE k8s_resources.data IS DISTINCT FROM EXCLUDED.data`, r.Kind, r.Namespace, r.Name, r.App, data)
	return err
}

// DeleteResource forgets a resource.
func (s *Store) DeleteResource(ctx context.Context, k ResourceKey) error {
	_, err := s.Pool.Exec(ctx, "DELETE FROM k8s_resources WHERE kind = $1 AND namespace = $2 AND name = $3", k.Kind, k.Namespace, k.Name)
	return err
}

// Resources lists an app's resources by kind and name.
func (s *Store) Resources(ctx context.Context, app AppKey) ([]Resource, error) {
	rows, err := s.Pool.Query(ctx, "SELECT data FROM k8s_resources WHERE namespace = $1 AND app = $2 ORDER BY kind, name", app.Namespace, app.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Resource{}
	for rows.Next() {
		var r Resource
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ResourceKeys lists every recorded resource of kind.
func (s *Store) ResourceKeys(ctx context.Context, kind string) ([]ResourceKey, error) {
	rows, err := s.Pool.Query(ctx, "SELECT kind, namespace, name FROM k8s_resources WHERE kind = $1", kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ResourceKey
	for rows.Next() {
		var k ResourceKey
		if err := rows.Scan(&k.Kind, &k.Namespace, &k.Name); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
