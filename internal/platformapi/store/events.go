package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/plattr/plattr/api/events"
)

// Event is one entry of the change feed: what clients receive
// (events.Event, the contract) and who may receive it (migration 009's
// audience columns, never sent).
type Event struct {
	events.Event
	Audience events.Audience `json:"-"`
	// Members are a tenant event's members (emails).
	Members []string `json:"-"`
	// Subject is the user whose roles a roles event is about.
	Subject int64 `json:"-"`
	// AdminOnly: site admins only (a task of a deleted app).
	AdminOnly bool `json:"-"`
}

// Channels the database notifies on.
const (
	ChannelEvents = "plattr_events"
	ChannelTasks  = "plattr_tasks"
	// ChannelAuth carries the id of a user whose token, session or
	// site-admin flag changed (migration 006).
	ChannelAuth = "plattr_auth"
)

// EventsAfter returns events with an id above after, oldest first.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, at, kind, namespace, app, data, audience, members, coalesce(subject, 0), admin_only
		FROM events WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.ID, &e.At, &e.Kind, &e.Namespace, &e.App, &e.Data, &e.Audience, &e.Members, &e.Subject, &e.AdminOnly); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// LastEventID is the newest event's id (0 for none).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.Pool.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM events").Scan(&id)
	return id, err
}

// FirstEventID is the oldest event still kept (0 for none): a client
// resuming from before it missed events that were pruned.
func (s *Store) FirstEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.Pool.QueryRow(ctx, "SELECT coalesce(min(id), 0) FROM events").Scan(&id)
	return id, err
}

// PruneEvents deletes events older than keep; a client gone longer than
// that reloads instead of resuming.
func (s *Store) PruneEvents(ctx context.Context, keep time.Duration) error {
	_, err := s.Pool.Exec(ctx, "DELETE FROM events WHERE at < now() - make_interval(secs => $1)", keep.Seconds())
	return err
}

// SetAppState records an app's status; nothing is written (and nothing
// published) when it is what every replica already recorded.
func (s *Store) SetAppState(ctx context.Context, app AppKey, status json.RawMessage) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO app_states (namespace, name, status) VALUES ($1, $2, $3)
		ON CONFLICT (namespace, name) DO UPDATE SET status = EXCLUDED.status WHERE app_states.status IS DISTINCT FROM EXCLUDED.status`,
		app.Namespace, app.Name, status)
	return err
}

// DeleteAppState forgets an app that is gone.
func (s *Store) DeleteAppState(ctx context.Context, app AppKey) error {
	_, err := s.Pool.Exec(ctx, "DELETE FROM app_states WHERE namespace = $1 AND name = $2", app.Namespace, app.Name)
	return err
}

// AppStateKeys lists the apps with a recorded state.
func (s *Store) AppStateKeys(ctx context.Context) ([]AppKey, error) {
	return s.appKeys(ctx, "SELECT namespace, name FROM app_states")
}
