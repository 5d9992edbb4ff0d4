package stream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/plattr/plattr/internal/platformapi/store"
)

// Heartbeat keeps idle connections open through proxies.
var Heartbeat = 15 * time.Second

// Filter decides whether a client may see an event; it is asked again for
// every event, so a role granted or taken away applies at once.
type Filter func(store.Event) bool

// Serve streams events to one client as server-sent events. With a
// Last-Event-ID header (or ?lastEventId=, for clients that cannot set
// headers) it first replays every visible event after that id.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, visible Filter) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported by this connection", http.StatusInternalServerError)
		return
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId")
	}
	// Subscribe before replaying, so nothing falls between the two.
	sub, hubLast := h.Subscribe()
	defer h.Unsubscribe(sub)
	sent := hubLast
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")

	if last != "" {
		after, err := strconv.ParseInt(last, 10, 64)
		if err != nil || after < 0 {
			fmt.Fprint(w, "event: error\ndata: {\"message\":\"Last-Event-ID must be a number\"}\n\n")
			return
		}
		sent = after
		for {
			events, err := h.Store.EventsAfter(r.Context(), sent, 500)
			if err != nil {
				return
			}
			for _, e := range events {
				if visible(e) {
					write(w, e)
				}
				sent = e.ID
			}
			if len(events) < 500 {
				break
			}
		}
	}
	// Give the client its cursor even when nothing it may see has happened
	// yet: an id line alone sets an EventSource's Last-Event-ID, so a
	// reconnect resumes here rather than from whenever it reconnects.
	fmt.Fprintf(w, "id: %d\n\n", sent)
	flusher.Flush()

	tick := time.NewTicker(Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case e, ok := <-sub.C:
			if !ok {
				return // fell behind: the client reconnects with its last id
			}
			if e.ID <= sent {
				continue // already replayed
			}
			sent = e.ID
			if visible(e) {
				write(w, e)
				// Flush what is already queued in one go.
				for n := len(sub.C); n > 0; n-- {
					e, ok = <-sub.C
					if !ok {
						break
					}
					if e.ID > sent {
						sent = e.ID
						if visible(e) {
							write(w, e)
						}
					}
				}
				flusher.Flush()
			}
		}
	}
}

func write(w http.ResponseWriter, e store.Event) {
	b, _ := json.Marshal(e)
	fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Kind, b)
}
