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
	// BodySHA256 names the body (hex): the change feed carries it instead
	// of the body.
	BodySHA256 string `json:"bodySha256,omitempty"`
	// ChangedAt is when the report last changed.
	ChangedAt time.Time `json:"changedAt,omitzero"`
}

// SetStatusReport records a report; an unchanged one writes nothing. A
// report that differs only by its body is written at most once per
// debounce (an app whose answer changes on every poll — a clock, a
// counter — costs one write a window, not one a poll); a change of OK or
// of the error is written at once.
func (s *Store) SetStatusReport(ctx context.Context, app AppKey, r StatusReport, debounce time.Duration) error {
	r.ChangedAt = time.Time{}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.Pool.Exec(ctx, `INSERT INTO status_reports (namespace, app, report) VALUES ($1, $2, $3)
		ON CONFLICT (namespace, app) DO UPDATE SET report = EXCLUDED.report, changed_at = now()
		WHERE status_reports.report IS DISTINCT FROM EXCLUDED.report
		  AND (status_reports.report->'ok' IS DISTINCT FROM EXCLUDED.report->'ok'
		    OR status_reports.report->'error' IS DISTINCT FROM EXCLUDED.report->'error'
		    OR status_reports.changed_at <= now() - make_interval(secs => $4))`,
		app.Namespace, app.Name, b, debounce.Seconds())
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
