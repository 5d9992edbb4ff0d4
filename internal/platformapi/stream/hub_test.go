package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/plattr/plattr/api/events"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/testenv"
)

func startStore(t *testing.T) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	s, err := store.Open(ctx, pg.URL(), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func publish(t *testing.T, s *store.Store, name string) int64 {
	t.Helper()
	task, err := s.CreateTask(context.Background(), store.NewTask{Namespace: "ns", App: name, Operation: store.OpInstall, Actor: "t", Request: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	return task.ID
}

// A client resuming on a replica that has just started (its HTTP server
// up, its hub not yet listening) is replayed what it missed. Before the
// fix the stream subscribed at once, with the hub's cursor still 0: it
// told the client it had seen everything, replayed nothing, and the hub,
// starting from the feed's end, never sent the missed event either — the
// portal test that resumes on a restarted replica failed so under load
// ("missed task rows 0").
func TestResumeOnAStartingReplicaMissesNothing(t *testing.T) {
	s := startStore(t)
	publish(t, s, "before")
	seen, _ := s.LastEventID(context.Background())
	publish(t, s, "missed") // while the client was away
	missed, _ := s.LastEventID(context.Background())

	h := &Hub{Store: s, Log: logr.Discard()}
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		h.Serve(w, r, func(*store.Event) bool { return true })
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	req.Header.Set("Last-Event-ID", strconv.FormatInt(seen, 10))
	got := make(chan int64, 10)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				n, _ := strconv.ParseInt(id, 10, 64)
				got <- n
			}
		}
	}()
	<-entered
	// The request is in; give it the moment it needs to reach the hub
	// (the outcome must not depend on it: the stream waits for the hub).
	time.Sleep(100 * time.Millisecond)
	go func() { _ = h.Run(ctx) }()

	deadline := time.After(20 * time.Second)
	var ids []int64
	for {
		select {
		case id := <-got:
			ids = append(ids, id)
			if id == missed {
				return
			}
		case <-deadline:
			t.Fatalf("the resumed stream sent ids %v, never %d (the event after its Last-Event-ID %d)", ids, missed, seen)
		}
	}
}

// BenchmarkFanOutPerClient is what each connected client's stream costs per
// event, for a tenant event (its audience is the tenant's members). Before
// the typed feed ("parse"), every stream decoded the payload to find the
// members and encoded the event again to write it; now ("fields") it reads
// the audience columns and writes the bytes the hub encoded once.
func BenchmarkFanOutPerClient(b *testing.B) {
	members := make([]string, 20)
	for i := range members {
		members[i] = fmt.Sprintf("member-%d@example.com", i)
	}
	payload, _ := json.Marshal(events.Tenant{Phase: "Running", Namespaces: []events.TenantNamespace{{Environment: "staging", Name: "t-staging"}}, Members: members})
	e := store.Event{Event: events.Event{ID: 42, At: time.Now(), Kind: events.KindTenant, App: "t", Data: payload},
		Audience: events.AudienceTenant, Members: members}
	me := "member-19@example.com"
	w := httptest.NewRecorder()
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var d struct {
				Members []string `json:"members"`
			}
			_ = json.Unmarshal(e.Data, &d)
			ok := false
			for _, m := range d.Members {
				ok = ok || m == me
			}
			if ok {
				body, _ := json.Marshal(e.Event)
				w.Body.Reset()
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Kind, body)
			}
		}
	})
	f := NewFrame(e)
	b.Run("fields", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ok := false
			for _, m := range f.Members {
				ok = ok || m == me
			}
			if ok {
				w.Body.Reset()
				_, _ = w.Write(f.Wire)
			}
		}
	})
}
