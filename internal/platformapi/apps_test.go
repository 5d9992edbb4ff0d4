package platformapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

func spec(image string) platformv1.ApplicationSpec {
	return platformv1.ApplicationSpec{
		Repository: "github.com/example/web", Framework: "docker", Environment: "staging",
		ImageRef: image, Database: &platformv1.DatabaseSpec{Enabled: true},
	}
}

type appView struct {
	Namespace  string                     `json:"namespace"`
	Name       string                     `json:"name"`
	Phase      string                     `json:"phase"`
	Image      string                     `json:"image"`
	Spec       platformv1.ApplicationSpec `json:"spec"`
	Conditions []struct {
		Type, Status, Reason string
	} `json:"conditions"`
}

func createApp(t *testing.T, c *caller, ns, name, image string) store.Task {
	t.Helper()
	return createAppSpec(t, c, ns, name, spec(image))
}

// createAppSpec records an Install of a new app. An app of that name left
// by an earlier run of the test (go test -count=2) is removed first, so
// every run starts from a new app.
func createAppSpec(t *testing.T, c *caller, ns, name string, s platformv1.ApplicationSpec) store.Task {
	t.Helper()
	var task store.Task
	body := map[string]any{"namespace": ns, "name": name, "spec": s}
	if code, _ := c.do(t, "POST", "/api/v1/apps", body, &task); code == 409 {
		removeApp(t, ns, name)
		c.must(t, 202, "POST", "/api/v1/apps", body, &task)
	} else if code != 202 {
		c.must(t, 202, "POST", "/api/v1/apps", body, &task)
	}
	return task
}

// removeApp deletes an app in the cluster, if there is one, and waits
// until the API no longer has it.
func removeApp(t *testing.T, ns, name string) {
	t.Helper()
	a := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := kube.Delete(context.Background(), a); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	c := admin(t)
	eventually(t, 60*time.Second, ns+"/"+name+" gone", func() error {
		if code, _ := c.do(t, "GET", "/api/v1/apps/"+ns+"/"+name, nil, nil); code != 404 {
			return fmt.Errorf("HTTP %d", code)
		}
		return nil
	})
}

func waitPhase(t *testing.T, c *caller, ns, name, phase string) appView {
	t.Helper()
	var a appView
	eventually(t, 60*time.Second, ns+"/"+name+" "+phase, func() error {
		code, body := c.do(t, "GET", "/api/v1/apps/"+ns+"/"+name, nil, &a)
		if code != 200 || a.Phase != phase {
			return fmt.Errorf("HTTP %d phase %q: %s", code, a.Phase, body)
		}
		return nil
	})
	return a
}

// The whole life of an app through the API: every operation is a task in
// its history, carried out against the cluster, with the operator's
// status visible through the API.
func TestAppLifecycleThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	c := admin(t)
	key := client.ObjectKey{Namespace: "team-a", Name: "life"}

	install := createApp(t, c, key.Namespace, key.Name, "registry.example.com/life:1")
	if install.Operation != store.OpInstall || install.State != store.TaskPending || install.Actor != siteAdmin {
		t.Fatalf("install task = %+v", install)
	}
	if len(install.Diff) == 0 || install.Diff[0].Path == "" {
		t.Fatalf("an install's diff lists the spec's fields: %+v", install.Diff)
	}
	waitTask(t, c, install.ID, store.TaskDone)
	a := waitPhase(t, c, key.Namespace, key.Name, "Running")
	ready := false
	for _, cond := range a.Conditions {
		ready = ready || (cond.Type == platformv1.ConditionReady && cond.Status == "True")
	}
	if !ready || a.Image != "registry.example.com/life:1" {
		t.Fatalf("app through the API = %+v", a)
	}
	// Creating it again is a conflict, not a second Install.
	if code, body := c.do(t, "POST", "/api/v1/apps", map[string]any{"namespace": key.Namespace, "name": key.Name, "spec": spec("x:1")}, nil); code != 409 {
		t.Fatalf("second create: HTTP %d %s", code, body)
	}

	// Upgrade: the diff names the changed field with both values.
	var upgrade store.Task
	c.must(t, 202, "PUT", "/api/v1/apps/team-a/life", map[string]any{"spec": spec("registry.example.com/life:2")}, &upgrade)
	if upgrade.Operation != store.OpUpgrade || len(upgrade.Diff) != 1 || upgrade.Diff[0].Path != "spec.imageRef" ||
		upgrade.Diff[0].From != "registry.example.com/life:1" || upgrade.Diff[0].To != "registry.example.com/life:2" {
		t.Fatalf("upgrade task = %+v", upgrade)
	}
	waitTask(t, c, upgrade.ID, store.TaskDone)
	live := &platformv1.Application{}
	if err := kube.Get(ctx, key, live); err != nil || live.Spec.ImageRef != "registry.example.com/life:2" {
		t.Fatalf("cluster app image = %q, %v", live.Spec.ImageRef, err)
	}

	// A spec the CRD refuses is refused now, naming the field.
	bad := spec("x:1")
	bad.Scaling = &platformv1.ScalingSpec{Min: 5, Max: 2}
	code, body := c.do(t, "PUT", "/api/v1/apps/team-a/life", map[string]any{"spec": bad}, nil)
	if code != 422 || !contains(body, "min") {
		t.Fatalf("invalid spec: HTTP %d %s", code, body)
	}
	// An unknown field is an error, not ignored.
	if code, body := c.do(t, "PUT", "/api/v1/apps/team-a/life", map[string]any{"spec": spec("x:1"), "imageRef": "y"}, nil); code != 400 {
		t.Fatalf("unknown field: HTTP %d %s", code, body)
	}

	// Restart rolls the pods through the pod template annotation.
	var restart store.Task
	c.must(t, 202, "POST", "/api/v1/apps/team-a/life/restart", nil, &restart)
	waitTask(t, c, restart.ID, store.TaskDone)
	dep := &appsv1.Deployment{}
	if err := kube.Get(ctx, key, dep); err != nil || dep.Spec.Template.Annotations[platformv1.AnnotationRestartedAt] == "" {
		t.Fatalf("deployment restarted-at = %v, %v", dep.Spec.Template.Annotations, err)
	}

	// A declared action: rotating the database credentials replaces the
	// Secret (the operator writes a new one).
	var actions []struct{ Name string }
	c.must(t, 200, "GET", "/api/v1/apps/team-a/life/actions", nil, &actions)
	if len(actions) != 1 || actions[0].Name != "rotate-database-credentials" {
		t.Fatalf("actions = %+v", actions)
	}
	oldSecret := &corev1.Secret{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "life-db"}, oldSecret); err != nil {
		t.Fatal(err)
	}
	var rotate store.Task
	c.must(t, 202, "POST", "/api/v1/apps/team-a/life/actions/rotate-database-credentials", nil, &rotate)
	if rotate.Operation != store.OpInvokeAction {
		t.Fatalf("rotate task = %+v", rotate)
	}
	waitTask(t, c, rotate.ID, store.TaskDone)
	eventually(t, 30*time.Second, "new database Secret", func() error {
		s := &corev1.Secret{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "life-db"}, s); err != nil {
			return err
		}
		if s.UID == oldSecret.UID || string(s.Data["DB_PASSWORD"]) == string(oldSecret.Data["DB_PASSWORD"]) {
			return fmt.Errorf("same Secret")
		}
		return nil
	})
	if code, body := c.do(t, "POST", "/api/v1/apps/team-a/life/actions/rotate-storage-credentials", nil, nil); code != 404 || !contains(body, "rotate-database-credentials") {
		t.Fatalf("undeclared action: HTTP %d %s", code, body)
	}

	// Uninstall removes it; the API stops showing it.
	var uninstall store.Task
	c.must(t, 202, "DELETE", "/api/v1/apps/team-a/life", nil, &uninstall)
	waitTask(t, c, uninstall.ID, store.TaskDone)
	eventually(t, 60*time.Second, "app gone", func() error {
		if err := kube.Get(ctx, key, &platformv1.Application{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still in the cluster: %v", err)
		}
		if code, _ := c.do(t, "GET", "/api/v1/apps/team-a/life", nil, nil); code != 404 {
			return fmt.Errorf("API answers %d", code)
		}
		return nil
	})

	// The app is gone, and with it its history under the name (a new app
	// called life starts with none); site admins still read it, newest
	// first, with who did each.
	var history []store.Task
	c.must(t, 200, "GET", "/api/v1/apps/team-a/life/tasks", nil, &history)
	if len(history) != 0 {
		t.Fatalf("a deleted app's history is still listed under its name: %d tasks", len(history))
	}
	c.must(t, 200, "GET", "/api/v1/apps/team-a/life/tasks?retired=true", nil, &history)
	var ops []string
	for _, h := range history {
		if h.ID < install.ID {
			continue // an earlier run's app of this name (go test -count=2)
		}
		ops = append(ops, h.Operation+"/"+h.State)
		if h.Actor != siteAdmin || h.StartedAt == nil || h.FinishedAt == nil {
			t.Errorf("task %d: actor %q started %v finished %v", h.ID, h.Actor, h.StartedAt, h.FinishedAt)
		}
	}
	want := []string{"Uninstall/Done", "InvokeAction/Done", "RestartK8sResource/Done", "Upgrade/Done", "Install/Done"}
	if fmt.Sprint(ops) != fmt.Sprint(want) {
		t.Fatalf("history = %v, want %v", ops, want)
	}
}

// A scheduled task waits for its time; a canceled one never runs.
func TestScheduledTaskRunsAtItsTimeAndCanceledNever(t *testing.T) {
	c := admin(t)
	install := createApp(t, c, "team-a", "sched", "registry.example.com/sched:1")
	waitTask(t, c, install.ID, store.TaskDone)

	at := time.Now().Add(2 * time.Second).UTC().Truncate(time.Millisecond)
	var runs, canceled store.Task
	c.must(t, 202, "POST", "/api/v1/apps/team-a/sched/reinstall", map[string]any{"reason": "scheduled", "executeAt": at}, &runs)
	c.must(t, 202, "POST", "/api/v1/apps/team-a/sched/restart", map[string]any{"executeAt": at}, &canceled)
	if !runs.ExecuteAt.Equal(at) || runs.State != store.TaskPending {
		t.Fatalf("scheduled task = %+v", runs)
	}
	var after store.Task
	c.must(t, 200, "POST", fmt.Sprintf("/api/v1/tasks/%d/cancel", canceled.ID), nil, &after)
	if after.State != store.TaskCanceled {
		t.Fatalf("canceled task = %+v", after)
	}
	time.Sleep(time.Second)
	var early store.Task
	c.must(t, 200, "GET", fmt.Sprintf("/api/v1/tasks/%d", runs.ID), nil, &early)
	if early.State != store.TaskPending {
		t.Fatalf("a task due at %s ran early: %+v", at, early)
	}
	done := waitTask(t, c, runs.ID, store.TaskDone)
	if done.StartedAt.Before(at) {
		t.Fatalf("started %s, before its time %s", done.StartedAt, at)
	}
	time.Sleep(time.Second)
	var still store.Task
	c.must(t, 200, "GET", fmt.Sprintf("/api/v1/tasks/%d", canceled.ID), nil, &still)
	if still.State != store.TaskCanceled || still.StartedAt != nil || still.Attempts != 0 {
		t.Fatalf("the canceled task ran: %+v", still)
	}
	// Only a Pending task can be canceled.
	if code, body := c.do(t, "POST", fmt.Sprintf("/api/v1/tasks/%d/cancel", runs.ID), nil, nil); code != 409 {
		t.Fatalf("cancel a finished task: HTTP %d %s", code, body)
	}
}

// Two replicas run every task exactly once; a task whose replica stopped
// mid-way is taken over once its lease ends.
func TestTwoReplicasRunEachTaskOnce(t *testing.T) {
	ctx := context.Background()
	c := admin(t)
	install := createApp(t, c, "team-a", "twice", "registry.example.com/twice:1")
	waitTask(t, c, install.ID, store.TaskDone)

	var ids []int64
	for i := 0; i < 30; i++ {
		var task store.Task
		c.must(t, 202, "POST", "/api/v1/apps/team-a/twice/reinstall", map[string]any{"reason": fmt.Sprint(i)}, &task)
		ids = append(ids, task.ID)
	}
	for _, id := range ids {
		waitTask(t, c, id, store.TaskDone)
	}
	rows, err := db.Pool.Query(ctx, "SELECT claimed_by, attempts FROM tasks WHERE id = ANY($1)", ids)
	if err != nil {
		t.Fatal(err)
	}
	byReplica := map[string]int{}
	for rows.Next() {
		var by string
		var attempts int
		if err := rows.Scan(&by, &attempts); err != nil {
			t.Fatal(err)
		}
		if attempts != 1 {
			t.Errorf("a task was claimed %d times", attempts)
		}
		byReplica[by]++
	}
	rows.Close()
	t.Logf("tasks run by replica: %v", byReplica)

	// A replica that claimed a task and died: the lease runs out and
	// another replica finishes it.
	var orphan int64
	err = db.Pool.QueryRow(ctx, `INSERT INTO tasks (namespace, app, operation, actor, state, claimed_by, claim_expires_at, started_at, attempts)
		VALUES ('team-a', 'twice', 'Reinstall', $1, 'Started', 'dead-replica', now() + interval '1 second', now(), 1) RETURNING id`, siteAdmin).Scan(&orphan)
	if err != nil {
		t.Fatal(err)
	}
	done := waitTask(t, c, orphan, store.TaskDone)
	if done.Attempts != 2 {
		t.Fatalf("taken-over task attempts = %d, want 2", done.Attempts)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// The objects an app owns are mirrored with a colour, kept current by the
// informers: a Deployment scaled down by hand turns yellow, and the change
// is on the event stream.
func TestResourcesMirrorTheClusterByWatching(t *testing.T) {
	ctx := context.Background()
	c := admin(t)
	install := createApp(t, c, "team-a", "mirrored", "registry.example.com/mirrored:1")
	waitTask(t, c, install.ID, store.TaskDone)
	waitPhase(t, c, "team-a", "mirrored", "Running")

	colours := func() map[string]string {
		var rs []store.Resource
		c.must(t, 200, "GET", "/api/v1/apps/team-a/mirrored/resources", nil, &rs)
		out := map[string]string{}
		for _, r := range rs {
			out[r.Kind+"/"+r.Name] = r.Status
		}
		return out
	}
	eventually(t, 30*time.Second, "deployment green, pods green, ingress and HPA listed", func() error {
		got := colours()
		pods := 0
		for k, v := range got {
			if strings.HasPrefix(k, "Pod/") && v == "green" {
				pods++
			}
		}
		if got["Deployment/mirrored"] != "green" || pods < 2 || got["Ingress/mirrored"] == "" || got["HorizontalPodAutoscaler/mirrored"] == "" {
			return fmt.Errorf("%v", got)
		}
		return nil
	})

	// The pods' logs, through the Kubernetes API (the simulated nodes serve
	// fixed lines).
	logs := c.must(t, 200, "GET", "/api/v1/apps/team-a/mirrored/logs?tailLines=2", nil, nil)
	if strings.Count(logs, "==> pod mirrored-") < 2 || !strings.Contains(logs, "GET / 200") {
		t.Fatalf("logs = %q", logs)
	}

	events, stop := subscribe(t, c, "")
	defer stop()
	time.Sleep(100 * time.Millisecond)
	// The HPA owns replicas; pausing it is what a person would do by hand.
	dep := &appsv1.Deployment{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "mirrored"}, dep); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(dep.DeepCopy())
	dep.Spec.Paused = true
	dep.Spec.Template.Spec.Containers[0].Image = "registry.example.com/mirrored:hand"
	if err := kube.Patch(ctx, dep, patch); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e := next(t, events, 2*time.Second, func(e sse) bool {
		return e.Kind == "resource" && field(e, "kind") == "Deployment" && field(e, "name") == "mirrored"
	})
	t.Logf("resource event %s after %s: %s", e.ID, time.Since(start), e.Data.Data)
}

// An app's declared status path is polled; its answer is shown, a change
// is recorded (and streamed) once, a steady answer writes nothing, and a
// failing app is reported as failing.
func TestStatusPathIsPolledAndShown(t *testing.T) {
	ctx := context.Background()
	c := admin(t)
	var answer atomic.Value
	answer.Store(`{"status":{"name":"Healthy","color":"green"}}`)
	statusApps.set("team-a/polled", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		body := answer.Load().(string)
		if body == "500" {
			http.Error(w, "boom", 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	})
	s := spec("registry.example.com/polled:1")
	s.StatusPath = "/status"
	task := createAppSpec(t, c, "team-a", "polled", s)
	waitTask(t, c, task.ID, store.TaskDone)

	type reported struct {
		Reported *struct {
			OK    bool            `json:"ok"`
			Error string          `json:"error"`
			Body  json.RawMessage `json:"body"`
		} `json:"reported"`
	}
	eventually(t, 5*time.Second, "healthy report", func() error {
		var a reported
		c.must(t, 200, "GET", "/api/v1/apps/team-a/polled", nil, &a)
		if a.Reported == nil || !a.Reported.OK || !strings.Contains(string(a.Reported.Body), "Healthy") {
			return fmt.Errorf("%+v", a.Reported)
		}
		return nil
	})
	statusEvents := func() int {
		var n int
		if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM events WHERE kind = 'status' AND namespace = 'team-a' AND app = 'polled'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := statusEvents()
	time.Sleep(time.Second) // five polls of the same answer
	if after := statusEvents(); after != before {
		t.Fatalf("a steady answer wrote %d reports", after-before)
	}

	answer.Store("500")
	eventually(t, 5*time.Second, "failing report", func() error {
		var a reported
		c.must(t, 200, "GET", "/api/v1/apps/team-a/polled", nil, &a)
		if a.Reported == nil || a.Reported.OK || !strings.Contains(a.Reported.Error, "HTTP 500") {
			return fmt.Errorf("%+v", a.Reported)
		}
		return nil
	})

	// No status path any more: no report.
	s.StatusPath = ""
	c.must(t, 202, "PUT", "/api/v1/apps/team-a/polled", map[string]any{"spec": s}, &task)
	waitTask(t, c, task.ID, store.TaskDone)
	eventually(t, 5*time.Second, "report removed", func() error {
		if _, err := db.StatusReportOf(ctx, store.AppKey{Namespace: "team-a", Name: "polled"}); err == nil {
			return fmt.Errorf("still reported")
		}
		return nil
	})
}

// Recreate moves an app to another namespace: its data does not move, so
// it is refused, saying what would be lost, until the caller confirms;
// then the new one runs and the old one goes.
func TestRecreateMovesAnApp(t *testing.T) {
	ctx := context.Background()
	c := admin(t)
	removeApp(t, "team-c", "mover") // an earlier run's (go test -count=2)
	install := createApp(t, c, "team-a", "mover", "registry.example.com/mover:1")
	waitTask(t, c, install.ID, store.TaskDone)
	if code, body := c.do(t, "POST", "/api/v1/apps/team-a/mover/recreate", map[string]any{"toNamespace": "team-a"}, nil); code != 400 || !strings.Contains(body, "toNamespace") {
		t.Fatalf("recreate into its own namespace: HTTP %d %s", code, body)
	}
	code, body := c.do(t, "POST", "/api/v1/apps/team-a/mover/recreate", map[string]any{"toNamespace": "team-c"}, nil)
	if code != 409 || !strings.Contains(body, `"field":"confirmDataLoss"`) || !strings.Contains(body, "database") {
		t.Fatalf("recreate without confirming the data loss: HTTP %d %s", code, body)
	}
	var task store.Task
	c.must(t, 202, "POST", "/api/v1/apps/team-a/mover/recreate", map[string]any{"toNamespace": "team-c", "confirmDataLoss": true}, &task)
	if task.Operation != store.OpRecreate {
		t.Fatalf("task = %+v", task)
	}
	waitTask(t, c, task.ID, store.TaskDone)
	waitPhase(t, c, "team-c", "mover", "Running")
	eventually(t, 60*time.Second, "old app gone", func() error {
		if err := kube.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "mover"}, &platformv1.Application{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	moved := &platformv1.Application{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "team-c", Name: "mover"}, moved); err != nil || moved.Spec.ImageRef != "registry.example.com/mover:1" {
		t.Fatalf("moved app: %+v %v", moved.Spec, err)
	}
}
