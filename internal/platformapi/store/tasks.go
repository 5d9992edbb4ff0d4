package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// Task operations (Platz's deployment task operations).
const (
	OpInstall            = "Install"
	OpUpgrade            = "Upgrade"
	OpReinstall          = "Reinstall"
	OpRecreate           = "Recreate"
	OpUninstall          = "Uninstall"
	OpInvokeAction       = "InvokeAction"
	OpRestartK8sResource = "RestartK8sResource"
)

// Task states.
const (
	TaskPending  = "Pending"
	TaskStarted  = "Started"
	TaskDone     = "Done"
	TaskFailed   = "Failed"
	TaskCanceled = "Canceled"
)

// Change is one field of an app's spec that a task changes.
type Change struct {
	Path string `json:"path"`
	From any    `json:"from,omitempty"`
	To   any    `json:"to,omitempty"`
}

// Task is one operation on an app: history and work item.
type Task struct {
	ID         int64           `json:"id"`
	Namespace  string          `json:"namespace"`
	App        string          `json:"app"`
	Operation  string          `json:"operation"`
	State      string          `json:"state"`
	Reason     string          `json:"reason"`
	Actor      string          `json:"actor"`
	Request    json.RawMessage `json:"request"`
	Diff       []Change        `json:"diff"`
	CreatedAt  time.Time       `json:"createdAt"`
	ExecuteAt  time.Time       `json:"executeAt"`
	StartedAt  *time.Time      `json:"startedAt,omitempty"`
	FinishedAt *time.Time      `json:"finishedAt,omitempty"`
	Attempts   int             `json:"attempts"`
	// AppUID is the app object the task acts on ("" until an Install has
	// made it); a task never acts on another object of the same name.
	AppUID string `json:"appUid,omitempty"`
	// RetiredAt is when the task's app was deleted: the task is kept for
	// audit but is no longer the history of any app.
	RetiredAt *time.Time `json:"retiredAt,omitempty"`
}

const taskColumns = "id, namespace, app, operation, state, reason, actor, request, diff, created_at, execute_at, started_at, finished_at, attempts, app_uid, retired_at"

func scanTask(row pgx.Row) (Task, error) {
	var t Task
	err := row.Scan(&t.ID, &t.Namespace, &t.App, &t.Operation, &t.State, &t.Reason, &t.Actor, &t.Request, &t.Diff,
		&t.CreatedAt, &t.ExecuteAt, &t.StartedAt, &t.FinishedAt, &t.Attempts, &t.AppUID, &t.RetiredAt)
	return t, notFound(err)
}

// NewTask is what a caller asks for.
type NewTask struct {
	Namespace, App, Operation, Actor string
	// AppUID is the live app's UID (empty for an Install).
	AppUID    string
	Request   any
	Diff      []Change
	ExecuteAt *time.Time // nil: now
}

// CreateTask queues a task.
func (s *Store) CreateTask(ctx context.Context, n NewTask) (Task, error) {
	req, err := json.Marshal(n.Request)
	if err != nil {
		return Task{}, err
	}
	if n.Diff == nil {
		n.Diff = []Change{}
	}
	return scanTask(s.Pool.QueryRow(ctx, `INSERT INTO tasks (namespace, app, operation, actor, request, diff, execute_at, app_uid)
		VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, now()), $8) RETURNING `+taskColumns,
		n.Namespace, n.App, n.Operation, n.Actor, req, n.Diff, n.ExecuteAt, n.AppUID))
}

// GetTask reads one task.
func (s *Store) GetTask(ctx context.Context, id int64) (Task, error) {
	return scanTask(s.Pool.QueryRow(ctx, "SELECT "+taskColumns+" FROM tasks WHERE id = $1", id))
}

// HistoryQuery asks for an app's history.
type HistoryQuery struct {
	App   AppKey
	Limit int
	// UID is the app object now living under the name ("" for none): its
	// tasks, and those bound to no object yet (an Install not yet run), are
	// its history.
	UID string
	// Retired adds every task ever recorded under the name, those of
	// deleted apps included (audit).
	Retired bool
}

// AppTasks lists an app's history, newest first: never the tasks of a
// deleted app of the same name, unless q.Retired.
func (s *Store) AppTasks(ctx context.Context, q HistoryQuery) ([]Task, error) {
	rows, err := s.Pool.Query(ctx, "SELECT "+taskColumns+` FROM tasks WHERE namespace = $1 AND app = $2
		AND ($4 OR (retired_at IS NULL AND app_uid IN ($3, ''))) ORDER BY id DESC LIMIT $5`,
		q.App.Namespace, q.App.Name, q.UID, q.Retired, q.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// CancelTask cancels a task that has not started. It reports false when
// the task had already started or finished.
func (s *Store) CancelTask(ctx context.Context, id int64, by string) (bool, error) {
	tag, err := s.Pool.Exec(ctx, `UPDATE tasks SET state = 'Canceled', reason = 'canceled by ' || $2, finished_at = now()
		WHERE id = $1 AND state = 'Pending'`, id, by)
	return tag.RowsAffected() == 1, err
}

// ClaimTask takes the oldest due task for replica, or one whose previous
// claim expired (its replica stopped mid-task; the operations are
// idempotent, so running it again is safe). Concurrent replicas never
// claim the same task: the row is locked and skipped by the others.
func (s *Store) ClaimTask(ctx context.Context, replica string, lease time.Duration) (Task, error) {
	return scanTask(s.Pool.QueryRow(ctx, `
		UPDATE tasks SET state = 'Started', started_at = now(), claimed_by = $1,
			claim_expires_at = now() + make_interval(secs => $2), attempts = attempts + 1
		WHERE id = (
			SELECT id FROM tasks
			WHERE (state = 'Pending' AND execute_at <= now()) OR (state = 'Started' AND claim_expires_at < now())
			ORDER BY execute_at, id
			FOR UPDATE SKIP LOCKED
			LIMIT 1)
		RETURNING `+taskColumns, replica, lease.Seconds()))
}

// FinishTask records a claimed task's outcome, if replica still holds it.
func (s *Store) FinishTask(ctx context.Context, id int64, replica, state, reason string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE tasks SET state = $3, reason = $4, finished_at = now(), claim_expires_at = NULL
		WHERE id = $1 AND claimed_by = $2 AND state = 'Started'`, id, replica, state, reason)
	return err
}

// RenewTask extends replica's claim on a running task by lease. It
// returns ErrNotFound when replica no longer holds it (its lease ran out
// and another replica took the task over).
func (s *Store) RenewTask(ctx context.Context, id int64, replica string, lease time.Duration) error {
	tag, err := s.Pool.Exec(ctx, `UPDATE tasks SET claim_expires_at = now() + make_interval(secs => $3)
		WHERE id = $1 AND claimed_by = $2 AND state = 'Started'`, id, replica, lease.Seconds())
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	return err
}

// BindTask records the app object a task made (an Install, a Recreate's
// new app is the target's history, not this task's).
func (s *Store) BindTask(ctx context.Context, id int64, replica, uid string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE tasks SET app_uid = $3 WHERE id = $1 AND claimed_by = $2`, id, replica, uid)
	return err
}

// NextDue is when the next pending task is due, if any.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at *time.Time
	err := s.Pool.QueryRow(ctx, `SELECT min(t) FROM (
		SELECT min(execute_at) AS t FROM tasks WHERE state = 'Pending'
		UNION ALL SELECT min(claim_expires_at) FROM tasks WHERE state = 'Started') x`).Scan(&at)
	if err != nil || at == nil {
		return time.Time{}, false, err
	}
	return *at, true, nil
}
