package store

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plattr/plattr/api/events"
	"github.com/plattr/plattr/internal/testenv"
)

// The change feed's contract (package api/events) against the real
// triggers, on a real PostgreSQL.

func startDB(t *testing.T) (*testenv.Postgres, *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	s, err := Open(ctx, pg.URL(), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return pg, s
}

// jsonFields lists the JSON keys of struct type t (embedded structs
// flattened), and which of them are always present (no omitempty/omitzero).
func jsonFields(t reflect.Type) (all, required map[string]bool) {
	all, required = map[string]bool{}, map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			a, r := jsonFields(f.Type)
			for k := range a {
				all[k] = true
			}
			for k := range r {
				required[k] = true
			}
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		all[name] = true
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			required[name] = true
		}
	}
	return all, required
}

// checkPayload fails unless data decodes into kind's payload struct with
// no unknown key and no required key missing.
func checkPayload(t *testing.T, kind string, data json.RawMessage) {
	t.Helper()
	k, ok := events.Lookup(kind)
	if !ok {
		t.Fatalf("the feed holds an event of kind %q, which package api/events does not declare", kind)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %s is not an object: %v", kind, data, err)
	}
	all, required := jsonFields(reflect.TypeOf(k.Payload))
	for key := range m {
		if !all[key] {
			t.Errorf("%s event carries %q, which events.%T lacks: %s", kind, key, k.Payload, data)
		}
	}
	for key := range required {
		if _, ok := m[key]; !ok {
			t.Errorf("%s event lacks %q of events.%T: %s", kind, key, k.Payload, data)
		}
	}
	v := reflect.New(reflect.TypeOf(k.Payload)).Interface()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s event does not decode into events.%T: %v: %s", kind, k.Payload, err, data)
	}
}

func eventsSince(t *testing.T, s *Store, after int64) []Event {
	t.Helper()
	evs, err := s.EventsAfter(context.Background(), after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestEveryKindMatchesItsContract(t *testing.T) {
	_, s := startDB(t)
	ctx := context.Background()
	app := AppKey{Namespace: "team-x", Name: "web"}
	last, _ := s.LastEventID(ctx)

	// A change of every source table, and a deletion where rows go.
	user, err := s.EnsureUser(ctx, "ana@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	task, err := s.CreateTask(ctx, NewTask{Namespace: app.Namespace, App: app.Name, Operation: OpInstall, Actor: "ana@example.com", Request: map[string]any{}})
	must(err)
	appState, _ := json.Marshal(events.App{Environment: "staging", Phase: "Running", Image: "img:1", Ready: true, CreatedAt: time.Now().UTC(), Conditions: []metav1.Condition{}})
	must(s.SetAppState(ctx, app, appState))
	must(s.SetResource(ctx, Resource{Kind: "Deployment", Name: "web", Namespace: app.Namespace, App: app.Name, Status: "green", Summary: "1/1 ready"}))
	must(s.SetStatusReport(ctx, app, StatusReport{OK: true, Body: json.RawMessage(`{"v":1}`), BodySHA256: "ab"}, 0))
	must(s.SetEnvironmentRole(ctx, app.Namespace, "ana@example.com", "User"))
	must(s.SetAppRole(ctx, app, "ana@example.com", "Owner"))
	tenant, _ := json.Marshal(events.Tenant{Phase: "Running", Namespaces: []events.TenantNamespace{{Environment: "staging", Name: "team-x"}}, Members: []string{"ana@example.com", "bo@example.com"}})
	must(s.SetTenantState(ctx, "team", tenant))
	must(s.DeleteResource(ctx, ResourceKey{Kind: "Deployment", Namespace: app.Namespace, Name: "web"}))
	must(s.DeleteStatusReport(ctx, app))
	must(s.RemoveEnvironmentRole(ctx, app.Namespace, "ana@example.com"))
	must(s.DeleteTenantState(ctx, "team"))
	must(s.DeleteAppState(ctx, app))

	seen := map[string]int{}
	for _, e := range eventsSince(t, s, last) {
		seen[e.Kind]++
		checkPayload(t, e.Kind, e.Data)
		k, _ := events.Lookup(e.Kind)
		if e.Audience != k.Audience {
			t.Errorf("%s event %d: audience %q, want %q", e.Kind, e.ID, e.Audience, k.Audience)
		}
		switch e.Kind {
		case events.KindTenant:
			if e.App != "team" || !slices.Equal(e.Members, []string{"ana@example.com", "bo@example.com"}) {
				t.Errorf("tenant event: app %q, members %v", e.App, e.Members)
			}
		case events.KindRoles:
			if e.Subject != user.ID || e.Namespace != app.Namespace || e.App != "" {
				t.Errorf("roles event: subject %d (want %d), namespace %q, app %q", e.Subject, user.ID, e.Namespace, e.App)
			}
		default:
			if e.Namespace != app.Namespace || e.App != app.Name || e.Subject != 0 || len(e.Members) > 0 || e.AdminOnly {
				t.Errorf("%s event: %+v", e.Kind, e)
			}
		}
		if e.Kind == events.KindStatus && bytes.Contains(e.Data, []byte(`"body"`)) {
			t.Errorf("a status event carries the report's body: %s", e.Data)
		}
		if e.Kind == events.KindTask {
			var p events.Task
			_ = json.Unmarshal(e.Data, &p)
			if p.ID != task.ID || p.State != TaskPending || p.CreatedAt.IsZero() {
				t.Errorf("task event: %+v, want task %d Pending with its creation time", p, task.ID)
			}
		}
	}
	for _, k := range events.Kinds {
		if seen[k.Name] == 0 {
			t.Errorf("no %s event was published", k.Name)
		}
	}
	if seen[events.KindRoles] != 3 || seen[events.KindTenant] != 2 || seen[events.KindApp] != 2 || seen[events.KindResource] != 2 || seen[events.KindStatus] != 2 {
		t.Errorf("events per kind: %v", seen)
	}

	// A deleted app's task is kept for audit; its later progress is for
	// site admins alone.
	claimed, err := s.ClaimTask(ctx, "r1", time.Minute)
	must(err)
	if claimed.ID != task.ID {
		t.Fatalf("claimed task %d, want %d", claimed.ID, task.ID)
	}
	must(s.BindTask(ctx, task.ID, "r1", "uid-1"))
	after, _ := s.LastEventID(ctx)
	must(s.ForgetApp(ctx, app, "uid-1"))
	must(s.FinishTask(ctx, task.ID, "r1", TaskDone, ""))
	var retiredEvent *Event
	for _, e := range eventsSince(t, s, after) {
		if e.Kind == events.KindTask {
			retiredEvent = &e
		}
	}
	if retiredEvent == nil {
		t.Fatal("the retired task's change published nothing")
	}
	if !retiredEvent.AdminOnly {
		t.Errorf("a retired task's event is not admin-only: %+v", retiredEvent)
	}
}

// Every kind has exactly the triggers its Source names, each calling the
// one generic function with the kind's name and audience, and no trigger
// publishes a kind the contract lacks.
func TestTriggersDeclareTheContractsKinds(t *testing.T) {
	_, s := startDB(t)
	rows, err := s.Pool.Query(context.Background(), `SELECT c.relname, p.proname, p.prosrc, t.tgargs
		FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND NOT t.tgisinternal`, Schema)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{} // kind → "table audience"
	for rows.Next() {
		var table, fn, src string
		var args []byte
		if err := rows.Scan(&table, &fn, &src, &args); err != nil {
			t.Fatal(err)
		}
		a := strings.Split(strings.TrimSuffix(string(args), "\x00"), "\x00")
		if fn != "publish_change" {
			if strings.Contains(src, "events") || strings.Contains(src, "plattr_events") {
				t.Errorf("table %s has trigger function %s writing the feed besides publish_change", table, fn)
			}
			continue
		}
		if len(a) != 6 {
			t.Errorf("trigger on %s: %d arguments, want 6: %q", table, len(a), a)
			continue
		}
		got[a[0]] = append(got[a[0]], table+" "+a[1])
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for _, k := range events.Kinds {
		for _, table := range strings.Split(k.Source, ", ") {
			want[k.Name] = append(want[k.Name], table+" "+string(k.Audience))
		}
	}
	for _, m := range []map[string][]string{got, want} {
		for k := range m {
			sort.Strings(m[k])
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("triggers publish %v; package api/events declares %v", got, want)
	}
}

// Events written before migration 009 get their audience from their
// payload: a tenant event its members, a roles event its subject.
func TestMigrationGivesOldEventsTheirAudience(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	cfg, err := pgx.ParseConfig(pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = Schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+Schema); err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewMigrator(ctx, conn, Schema+".schema_version")
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	if err := m.LoadMigrations(sub); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO users (id, email) VALUES (41, 'ana@example.com')`,
		`INSERT INTO tenant_states (name, state) VALUES ('team', '{"phase":"Running","namespaces":[],"members":["ana@example.com"]}')`,
		`INSERT INTO environment_roles (namespace, user_id, role) VALUES ('team-x', 41, 'User')`,
		`INSERT INTO tasks (namespace, app, operation, actor) VALUES ('team-x', 'web', 'Install', 'ana@example.com')`,
		`UPDATE tasks SET retired_at = now()`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := m.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT kind, audience, members, coalesce(subject, 0), admin_only FROM events ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var kind, audience string
		var members []string
		var subject int64
		var adminOnly bool
		if err := rows.Scan(&kind, &audience, &members, &subject, &adminOnly); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{kind, audience, strings.Join(members, "+"), jsonString(subject), jsonString(adminOnly)}, " "))
	}
	want := []string{"tenant tenant ana@example.com 0 false", "roles roles  41 false", "task app  0 true"}
	if !slices.Equal(got, want) {
		t.Fatalf("old events after migration 009:\n%q\nwant\n%q", got, want)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
