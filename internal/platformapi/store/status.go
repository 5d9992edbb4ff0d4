package store

import (
	"context"
	"encoding/json"
	"time"
)

// StatusReport is what an app last answered at its status path.
type StatusReport struct {
	// OK is false when the app could not be reached or did not answer
	// 200 with JSON; Error then says why.
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Body  json.RawMessage `json:"body,omitempty"`
	// ChangedAt is when the report last changed.
	ChangedAt time.Time `json:"changedAt,omitzero"`
}

// SetStatusReport records a report; an unchanged one writes nothing.
func (s *Store) SetStatusReport(ctx context.Context, app AppKey, r StatusReport) error {
	r.ChangedAt = time.Time{}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.Pool.Exec(ctx, `INSERT INTO status_reports (namespace, app, report) VALUES ($1, $2, $3)
		ON CONFLICT (namespace, app) DO UPDATE SET report = EXCLUDED.report, changed_at = now()
		WHERE status_reports.report IS DISTINCT FROM EXCLUDED.report`, app.Namespace, app.Name, b)
	return err
}

// StatusReportOf reads an app's last report.
func (s *Store) StatusReportOf(ctx context.Context, app AppKey) (StatusReport, error) {
	var r StatusReport
	var at time.Time
	err := s.Pool.QueryRow(ctx, "SELECT report, changed_at FROM status_reports WHERE namespace = $1 AND app = $2", app.Namespace, app.Name).Scan(&r, &at)
	r.ChangedAt = at
	return r, notFound(err)
}

// DeleteStatusReport forgets an app's report (it no longer declares a
// status path, or is gone).
func (s *Store) DeleteStatusReport(ctx context.Context, app AppKey) error {
	_, err := s.Pool.Exec(ctx, "DELETE FROM status_reports WHERE namespace = $1 AND app = $2", app.Namespace, app.Name)
	return err
}

// StatusReportKeys lists the apps with a report.
func (s *Store) StatusReportKeys(ctx context.Context) ([]AppKey, error) {
	return s.appKeys(ctx, "SELECT namespace, app FROM status_reports")
}
