package platformapi_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/plattr/plattr/api/events"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/testenv"
)

// collector keeps every event a stream delivers (so a busy stream is never
// left unread) and waits for one.
type collector struct {
	mu   sync.Mutex
	all  []sse
	more chan struct{}
}

func collect(ch <-chan sse) *collector {
	c := &collector{more: make(chan struct{}, 1)}
	go func() {
		for e := range ch {
			c.mu.Lock()
			c.all = append(c.all, e)
			c.mu.Unlock()
			select {
			case c.more <- struct{}{}:
			default:
			}
		}
	}()
	return c
}

// waitFor waits until an event matching f has arrived and returns it.
func (c *collector) waitFor(t *testing.T, within time.Duration, what string, f func(sse) bool) sse {
	t.Helper()
	deadline := time.After(within)
	for {
		c.mu.Lock()
		for _, e := range c.all {
			if f(e) {
				c.mu.Unlock()
				return e
			}
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("%s: not received within %s", what, within)
		}
	}
}

func (c *collector) events() []sse {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sse(nil), c.all...)
}

// An attacker's stream never carries an event of another tenant's app, nor
// that tenant's own events or its roles changes: not live, not replayed
// on resume, and not once they were a member and were removed (the audience
// columns of the events after that no longer name them). Each check ends
// on a marker event the attacker may see, published after the ones they
// may not: events arrive in order, so everything before it was filtered.
func TestStreamNeverCarriesAnotherTenantsEvents(t *testing.T) {
	run := testenv.RandomString(4)
	mal, vic := "mal-"+run+"@evil.test", "vic-"+run+"@victim.test"
	mallory, victim := asUser(t, mal), asUser(t, vic)
	tA, tB := "ta"+run, "tb"+run
	nsA, nsB := tA+"-staging", tB+"-staging"
	live, stop := subscribe(t, mallory, "")
	defer stop()
	got := collect(live)

	mallory.must(t, 201, "POST", "/api/v1/tenants", map[string]any{"name": tA, "environments": []string{"staging"}}, nil)
	// Mallory starts as a member of the victim's tenant: she sees it then.
	victim.must(t, 201, "POST", "/api/v1/tenants", map[string]any{"name": tB, "environments": []string{"staging"},
		"members": []map[string]string{{"email": mal, "role": "User"}}}, nil)
	waitTenant(t, mallory, tA)
	waitTenant(t, victim, tB)
	got.waitFor(t, 15*time.Second, "B's event while she is a member", func(e sse) bool { return e.Kind == events.KindTenant && e.Data.App == tB })

	// Removed from B: her roles there go, and a roles event tells her stream.
	victim.must(t, 200, "PUT", "/api/v1/tenants/"+tB, map[string]any{"name": tB, "environments": []string{"staging"},
		"members": []map[string]string{{"email": vic, "role": "Admin"}}}, nil)
	eventually(t, 15*time.Second, "mallory's role in "+nsB+" gone", func() error {
		u, err := db.EnsureUser(t.Context(), mal, false)
		if err != nil {
			return err
		}
		roles, err := db.RolesOf(t.Context(), u.ID)
		if err != nil {
			return err
		}
		if _, ok := roles.Environments[nsB]; ok {
			return fmt.Errorf("still %s", roles.Environments[nsB])
		}
		return nil
	})
	removed := got.waitFor(t, 15*time.Second, "her role's removal in "+nsB, func(e sse) bool {
		var d events.Roles
		_ = json.Unmarshal(e.Data.Data, &d)
		return e.Kind == events.KindRoles && e.Data.Namespace == nsB && d.Deleted.Deleted
	})

	// The victim's app in B: install, status, resources, tasks; B's tenant
	// changes; a role granted there to someone else.
	install := createApp(t, victim, nsB, "web", "registry.example.com/web:1")
	waitTask(t, victim, install.ID, store.TaskDone)
	waitPhase(t, victim, nsB, "web", "Running")
	// A resume from here is replayed (within the suite's replay limit).
	resumeFrom, err := db.LastEventID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	victim.must(t, 202, "POST", "/api/v1/apps/"+nsB+"/web/restart", map[string]any{"executeAt": time.Now().Add(time.Hour)}, nil)
	victim.must(t, 200, "PUT", "/api/v1/tenants/"+tB, map[string]any{"name": tB, "displayName": "Victims", "environments": []string{"staging"},
		"members": []map[string]string{{"email": vic, "role": "Admin"}, {"email": "other-" + run + "@victim.test", "role": "User"}}}, nil)
	eventually(t, 15*time.Second, "the other member's role in "+nsB, func() error {
		ms, err := db.EnvironmentMembers(t.Context(), nsB)
		if err != nil || len(ms) < 2 {
			return fmt.Errorf("%d members, %v", len(ms), err)
		}
		return nil
	})
	// The marker: a task on Mallory's own app, after all of the above.
	marker := createApp(t, mallory, nsA, "web", "registry.example.com/web:1")
	isMarker := func(e sse) bool {
		return e.Kind == events.KindTask && e.Data.Namespace == nsA && field(e, "state") == "Pending"
	}
	got.waitFor(t, 15*time.Second, "the marker", isMarker)

	id := func(e sse) int64 { n, _ := strconv.ParseInt(e.ID, 10, 64); return n }
	leaked := func(evs []sse, after int64) {
		t.Helper()
		for _, e := range evs {
			if id(e) > after && (e.Data.Namespace == nsB || (e.Kind == events.KindTenant && e.Data.App == tB)) {
				t.Errorf("mallory received the victim's %s event %s after her removal: %s", e.Kind, e.ID, e.Data.Data)
			}
		}
	}
	// Her role may come back for a moment (another replica's mirror, a
	// step behind, syncs the tenant as it was) and go again: what she may
	// see ends at her role's last removal before the marker.
	last := id(removed)
	for _, e := range got.events() {
		var d events.Roles
		_ = json.Unmarshal(e.Data.Data, &d)
		if e.Kind == events.KindRoles && e.Data.Namespace == nsB && d.Deleted.Deleted && id(e) > last && !isMarker(e) {
			last = id(e)
		}
		if isMarker(e) {
			break
		}
	}
	leaked(got.events(), last)

	// Resuming from before the last of it replays her own events, none of B's.
	resumed, stopR := subscribe(t, mallory, strconv.FormatInt(resumeFrom, 10))
	defer stopR()
	replay := collect(resumed)
	replay.waitFor(t, 15*time.Second, "the marker, replayed", isMarker)
	leaked(replay.events(), 0)
	_, _ = db.CancelTask(t.Context(), marker.ID, "test")
}
