package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/plattr/plattr/internal/platformapi/store"
)

// Heartbeat keeps idle connections open through proxies.
var Heartbeat = 15 * time.Second

// EventReload tells a client it is too far behind to be replayed (more
// than MaxReplay events, or events already pruned): it reloads what it
// shows, and its cursor moves to the present.
const EventReload = "reload"

// ErrGone is what Check returns when the caller's token or session no
// longer holds (revoked, expired, signed out, user deleted).
var ErrGone = errors.New("the credentials of this stream no longer hold")

// Caller is who a stream serves, as Check last found them.
type Caller struct {
	UserID int64
	// Key changes when the caller's standing changes in a way the event
	// filter does not follow (site admin granted or taken away): the
	// stream ends, and the client's reconnect carries a fresh principal.
	Key string
}

// Filter decides whether a client may see an event; it is asked again for
// every event, so a role granted or taken away applies at once. It reads
// the event's audience fields (store.Event): the feed keeps who may see an
// event beside it, so a filter never parses the event's data.
type Filter func(*store.Event) bool

// readyWait bounds how long a stream waits for a hub that is not listening
// yet (a replica starting) before it answers 503.
var readyWait = 30 * time.Second

func (h *Hub) maxPerUser() int { return cmp(h.MaxPerUser, 20) }
func (h *Hub) maxReplay() int  { return cmp(h.MaxReplay, 10000) }
func (h *Hub) recheckEvery() time.Duration {
	if h.Recheck > 0 {
		return h.Recheck
	}
	return time.Minute
}
func (h *Hub) writeTimeout() time.Duration {
	if h.WriteTimeout > 0 {
		return h.WriteTimeout
	}
	return 30 * time.Second
}

func cmp(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	_, _ = w.Write(append(b, '\n'))
}

// Serve streams events to one client as server-sent events. With a
// Last-Event-ID header (or ?lastEventId=, for clients that cannot set
// headers) it first replays the visible events after that id, at most
// MaxReplay of them; further behind, the client gets EventReload.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, visible Filter) {
	rc := http.NewResponseController(w)
	var caller Caller
	if h.Check != nil {
		var err error
		if caller, err = h.Check(r); err != nil {
			refuse(w, http.StatusUnauthorized, "sign in, or send an API token as Authorization: Bearer <token>")
			return
		}
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("lastEventId")
	}
	after := int64(-1)
	if last != "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			refuse(w, http.StatusBadRequest, "Last-Event-ID (lastEventId) must be a number: the id of the last event received")
			return
		}
		after = n
	}
	// The hub's cursor must be the feed's before a client subscribes: a
	// replica just started serves requests before its hub has read where
	// the feed is, and a client resuming then would be told it had seen
	// everything up to 0, and never be sent what it missed.
	wait := time.NewTimer(readyWait)
	defer wait.Stop()
	select {
	case <-h.Ready():
	case <-r.Context().Done():
		return
	case <-wait.C:
		w.Header().Set("Retry-After", "5")
		refuse(w, http.StatusServiceUnavailable, "the change feed is not listening yet: retry in a few seconds")
		return
	}
	// Subscribe before replaying, so nothing falls between the two.
	sub, hubLast, ok := h.subscribe(caller.UserID, h.maxPerUser())
	if !ok {
		w.Header().Set("Retry-After", "30")
		refuse(w, http.StatusTooManyRequests, fmt.Sprintf("you already hold %d event streams on this server: close one (another tab or script) and retry", h.maxPerUser()))
		return
	}
	defer h.Unsubscribe(sub)
	sent := hubLast
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	// However the stream ends, the connection ends with it: the client
	// reconnects anyway, and no idle connection outlives its stream.
	w.Header().Set("Connection", "close")
	deadline := func() { _ = rc.SetWriteDeadline(time.Now().Add(h.writeTimeout())) }
	deadline()
	// The connection may carry the client's next request: no deadline left.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")

	if after >= 0 {
		if n, ok := h.replay(w, r, after, hubLast, visible, deadline); ok {
			sent = n
		} else {
			// Too far behind: the client reloads and continues from now.
			fmt.Fprintf(w, "event: %s\ndata: {\"reason\":\"this stream cannot replay every change since event %d: load the current state again\"}\n\n", EventReload, after)
		}
	}
	// Give the client its cursor even when nothing it may see has happened
	// yet: an id line alone sets an EventSource's Last-Event-ID, so a
	// reconnect resumes here rather than from whenever it reconnects.
	fmt.Fprintf(w, "id: %d\n\n", sent)
	if rc.Flush() != nil {
		return
	}

	tick := time.NewTicker(Heartbeat)
	defer tick.Stop()
	recheck := time.NewTicker(h.recheckEvery())
	defer recheck.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-recheck.C:
			if !h.stillHolds(r, caller) {
				return
			}
		case <-sub.recheck:
			if !h.stillHolds(r, caller) {
				return
			}
		case <-tick.C:
			deadline()
			fmt.Fprint(w, ": keep-alive\n\n")
			if rc.Flush() != nil {
				return
			}
		case e, ok := <-sub.C:
			if !ok {
				return // fell behind: the client reconnects with its last id
			}
			if e.ID <= sent {
				continue // already replayed
			}
			sent = e.ID
			if visible(&e.Event) {
				deadline()
				if _, err := w.Write(e.Wire); err != nil {
					return
				}
				// Flush what is already queued in one go.
				for n := len(sub.C); n > 0; n-- {
					e, ok = <-sub.C
					if !ok {
						break
					}
					if e.ID > sent {
						sent = e.ID
						if visible(&e.Event) {
							if _, err := w.Write(e.Wire); err != nil {
								return
							}
						}
					}
				}
				if rc.Flush() != nil {
					return // the client stopped reading: the write deadline passed
				}
			}
		}
	}
}

// replay writes the visible events in (after, upTo] and returns the last
// id covered; ok is false when that would be more than MaxReplay events or
// some were already pruned.
func (h *Hub) replay(w http.ResponseWriter, r *http.Request, after, upTo int64, visible Filter, deadline func()) (int64, bool) {
	if after >= upTo {
		return after, true
	}
	first, err := h.Store.FirstEventID(r.Context())
	if err != nil || (first > after+1) {
		return 0, false
	}
	var batch []store.Event
	for cursor := after; len(batch) <= h.maxReplay(); {
		events, err := h.Store.EventsAfter(r.Context(), cursor, 500)
		if err != nil {
			return 0, false
		}
		for _, e := range events {
			if e.ID > upTo {
				break
			}
			batch = append(batch, e)
			cursor = e.ID
		}
		if len(events) < 500 || cursor >= upTo || events[len(events)-1].ID > upTo {
			break
		}
	}
	if len(batch) > h.maxReplay() {
		return 0, false
	}
	sent := after
	for i := range batch {
		if e := &batch[i]; visible(e) {
			deadline()
			if _, err := w.Write(NewFrame(*e).Wire); err != nil {
				return sent, true
			}
		}
		sent = batch[i].ID
	}
	// Anything after upTo arrives on the subscription.
	return max(sent, upTo), true
}

// stillHolds checks the caller again: false ends the stream. A check that
// fails for another reason (the database briefly away) keeps it, to be
// checked at the next tick.
func (h *Hub) stillHolds(r *http.Request, was Caller) bool {
	if h.Check == nil {
		return true
	}
	now, err := h.Check(r)
	switch {
	case errors.Is(err, ErrGone):
		return false
	case err != nil:
		h.Log.Error(err, "checking an event stream's caller again")
		return true
	}
	return now == was
}
