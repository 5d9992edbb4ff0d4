package platformapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/store"
)

type sse struct {
	ID   string
	Kind string
	Data store.Event
}

// subscribe opens the event stream and delivers its events on a channel.
func subscribe(t *testing.T, c *caller, lastEventID string) (<-chan sse, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sse, 100)
	go func() {
		defer close(out)
		readEvents(resp.Body, func(ev streamEvent) {
			if ev.ID == "" { // a feed event has an id; control events are others'
				return
			}
			e := sse{ID: ev.ID, Kind: ev.Kind}
			_ = json.Unmarshal([]byte(ev.Data), &e.Data)
			out <- e
		})
	}()
	return out, cancel
}

// next waits for the next event matching f.
func next(t *testing.T, ch <-chan sse, within time.Duration, f func(sse) bool) sse {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatal("stream closed")
			}
			if f(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no matching event within %s", within)
		}
	}
}

func none(t *testing.T, ch <-chan sse, within time.Duration, f func(sse) bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e := <-ch:
			if f(e) {
				t.Fatalf("unexpected event %+v", e)
			}
		case <-deadline:
			return
		}
	}
}

// A change reaches allowed subscribers within a second, on either replica,
// and never reaches others; a client that reconnects with Last-Event-ID is
// replayed what it missed, in order.
func TestEventStreamDeliversToAllowedAndResumes(t *testing.T) {
	ctx := context.Background()
	adminC := admin(t)
	install := createApp(t, adminC, "team-c", "live", "registry.example.com/live:1")
	waitTask(t, adminC, install.ID, store.TaskDone)
	waitPhase(t, adminC, "team-c", "live", "Running")

	insider := asUser(t, "live-insider@plattr.test")
	outsider := asUser(t, "live-outsider@plattr.test")
	if err := db.SetEnvironmentRole(ctx, "team-c", "live-insider@plattr.test", authz.EnvUser); err != nil {
		t.Fatal(err)
	}
	if err := db.SetEnvironmentRole(ctx, "team-a", "live-outsider@plattr.test", authz.EnvUser); err != nil {
		t.Fatal(err)
	}
	// The role the end of an earlier run granted (go test -count=2).
	if err := db.RemoveEnvironmentRole(ctx, "team-c", "live-outsider@plattr.test"); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	insiderB := &caller{base: apiB.URL, token: insider.token}
	inA, stopA := subscribe(t, insider, "")
	defer stopA()
	inB, stopB := subscribe(t, insiderB, "")
	defer stopB()
	out, stopOut := subscribe(t, outsider, "")
	defer stopOut()
	time.Sleep(100 * time.Millisecond)

	onLive := func(e sse) bool { return e.Data.Namespace == "team-c" && e.Data.App == "live" }
	start := time.Now()
	var restart store.Task
	adminC.must(t, 202, "POST", "/api/v1/apps/team-c/live/restart", nil, &restart)
	got := next(t, inA, time.Second, func(e sse) bool { return onLive(e) && e.Kind == "task" })
	next(t, inB, time.Second, func(e sse) bool { return onLive(e) && e.Kind == "task" })
	t.Logf("first event after %s", time.Since(start))
	if fmt.Sprint(got.Data.ID) != got.ID {
		t.Fatalf("event id %s vs data id %d", got.ID, got.Data.ID)
	}
	// The task's progress follows on the stream: Started then Done.
	next(t, inA, 5*time.Second, func(e sse) bool { return onLive(e) && field(e, "state") == "Done" })
	none(t, out, 500*time.Millisecond, onLive)

	// A status change made in the cluster (the operator's) is an event too.
	var upgrade store.Task
	adminC.must(t, 202, "PUT", "/api/v1/apps/team-c/live", map[string]any{"spec": spec("registry.example.com/live:2")}, &upgrade)
	appEvent := next(t, inA, 5*time.Second, func(e sse) bool {
		return onLive(e) && e.Kind == "app" && field(e, "image") == "registry.example.com/live:2"
	})
	none(t, out, 300*time.Millisecond, onLive)

	// Drop the connection, let things happen, resume.
	stopA()
	last := appEvent.ID
	var missed []int64
	for i := 0; i < 3; i++ {
		var task store.Task
		adminC.must(t, 202, "POST", "/api/v1/apps/team-c/live/reinstall", map[string]any{"reason": fmt.Sprint(i), "executeAt": time.Now().Add(time.Hour)}, &task)
		missed = append(missed, task.ID)
	}
	resumed, stopR := subscribe(t, insider, last)
	defer stopR()
	var seen []int64
	for len(seen) < len(missed) {
		e := next(t, resumed, 2*time.Second, func(e sse) bool { return onLive(e) && e.Kind == "task" && field(e, "state") == "Pending" })
		var d struct {
			ID int64 `json:"id"`
		}
		_ = json.Unmarshal(e.Data.Data, &d)
		for _, id := range missed {
			if id == d.ID {
				seen = append(seen, id)
			}
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint(missed) {
		t.Fatalf("replayed %v, want %v in order", seen, missed)
	}

	// A role granted while connected applies at once.
	if err := db.SetEnvironmentRole(ctx, "team-c", "live-outsider@plattr.test", authz.EnvUser); err != nil {
		t.Fatal(err)
	}
	next(t, out, time.Second, func(e sse) bool { return e.Kind == "roles" })
	adminC.must(t, 202, "POST", "/api/v1/apps/team-c/live/restart", map[string]any{"executeAt": time.Now().Add(time.Hour)}, nil)
	next(t, out, time.Second, onLive)
	_, _ = db.Pool.Exec(ctx, "UPDATE tasks SET state = 'Canceled' WHERE namespace = 'team-c' AND state = 'Pending'")
}

// field reads a string field of an event's data.
func field(e sse, name string) string {
	var m map[string]any
	_ = json.Unmarshal(e.Data.Data, &m)
	s, _ := m[name].(string)
	return s
}
