// Package stream turns the database's change feed into server-sent events.
// Every change the API records inserts a row into plattr_api.events and
// NOTIFYs its id (store/migrations); each API replica's Hub LISTENs, reads
// new rows once, and fans them out to its connected clients, each filtered
// by what that client may see. A client that reconnects with Last-Event-ID
// is replayed what it missed from the table, up to a limit.
//
// A stream serves one caller and no longer than that caller's credentials
// hold: Check re-authenticates the request when the database NOTIFYs a
// change to the user's tokens, sessions or site-admin flag, and on a
// timer; each user may hold a few streams per replica.
package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/plattr/plattr/internal/platformapi/store"
)

// Hub fans the change feed out to subscribers.
type Hub struct {
	Store *store.Store
	Log   logr.Logger
	// OnTasks is called when a task became due (the tasks channel).
	OnTasks func()

	// Check re-authenticates a stream's request: ErrGone when its token or
	// session no longer holds, so the stream ends. Nil: streams are not
	// checked again (tests of the hub alone).
	Check func(*http.Request) (Caller, error)
	// MaxPerUser caps one user's streams on this replica [20].
	MaxPerUser int
	// Recheck is how often a stream checks its caller besides on a
	// notification [1m]; it catches expiry, which notifies nothing.
	Recheck time.Duration
	// WriteTimeout bounds one write to a client [30s]: a client that stops
	// reading is dropped rather than holding its goroutine.
	WriteTimeout time.Duration
	// MaxReplay is how many events a resuming client is replayed at most;
	// further behind, it is told to reload (EventReload) [10000].
	MaxReplay int

	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	perUser map[int64]map[*Subscription]struct{}
	lastID  int64
	fetch   chan struct{}
	ready   chan struct{}
}

// Subscription receives events until closed; C is closed when the client
// fell too far behind (it reconnects and resumes from its last id).
type Subscription struct {
	C      chan *Frame
	closed bool
	user   int64
	// recheck asks the stream to check its caller again.
	recheck chan struct{}
}

const subscriberBuffer = 512

// Frame is an event with its server-sent-event encoding, made once per
// replica and shared by every subscriber: a stream writes the bytes and
// filters on the event's audience fields, so no client's stream parses or
// encodes JSON per event.
type Frame struct {
	store.Event
	Wire []byte
}

// NewFrame encodes e.
func NewFrame(e store.Event) *Frame {
	b, _ := json.Marshal(e)
	return &Frame{Event: e, Wire: fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Kind, b)}
}

// Run listens until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	h.init()
	id, err := h.Store.LastEventID(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.lastID = id
	h.mu.Unlock()
	go h.fetchLoop(ctx)
	h.Store.Listen(ctx, []string{store.ChannelEvents, store.ChannelTasks, store.ChannelAuth}, func() {
		// (Re)connected: catch up on anything published while away, and
		// check every stream's caller (a revocation may have been missed).
		h.kick()
		h.recheckAll()
		if h.OnTasks != nil {
			h.OnTasks()
		}
		h.markReady()
	}, func(channel, payload string) {
		switch channel {
		case store.ChannelAuth:
			if id, err := strconv.ParseInt(payload, 10, 64); err == nil {
				h.recheckUser(id)
			}
		case store.ChannelEvents:
			h.kick()
		case store.ChannelTasks:
			if h.OnTasks != nil {
				h.OnTasks()
			}
		}
	})
	return nil
}

func (h *Hub) init() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[*Subscription]struct{}{}
		h.perUser = map[int64]map[*Subscription]struct{}{}
		h.fetch = make(chan struct{}, 1)
		h.ready = make(chan struct{})
	}
}

func (h *Hub) markReady() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.ready:
	default:
		close(h.ready)
	}
}

// Ready is closed once the hub listens.
func (h *Hub) Ready() <-chan struct{} { h.init(); return h.ready }

func (h *Hub) kick() {
	select {
	case h.fetch <- struct{}{}:
	default:
	}
}

// fetchLoop reads new events once per burst of notifications, however
// many clients are connected.
func (h *Hub) fetchLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.fetch:
		}
		for {
			h.mu.Lock()
			after := h.lastID
			h.mu.Unlock()
			events, err := h.Store.EventsAfter(ctx, after, 1000)
			if err != nil {
				if ctx.Err() == nil {
					h.Log.Error(err, "reading the change feed")
					time.Sleep(time.Second)
					h.kick()
				}
				break
			}
			h.broadcast(events)
			if len(events) < 1000 {
				break
			}
		}
	}
}

func (h *Hub) broadcast(events []store.Event) {
	if len(events) == 0 {
		return
	}
	frames := make([]*Frame, len(events))
	for i, e := range events {
		frames[i] = NewFrame(e)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastID = events[len(events)-1].ID
	for s := range h.subs {
		for _, e := range frames {
			select {
			case s.C <- e:
			default:
				// Too slow: drop it; the client resumes from its last id.
				h.drop(s)
			}
			if s.closed {
				break
			}
		}
	}
}

// Subscribe registers a subscriber and returns the id of the last event
// the hub has delivered: everything after it will arrive on the channel.
func (h *Hub) Subscribe() (*Subscription, int64) {
	s, last, _ := h.subscribe(0, 0)
	return s, last
}

// subscribe registers a subscriber of user, unless that user already
// holds max of them (max 0: no cap); ok is false then.
func (h *Hub) subscribe(user int64, max int) (*Subscription, int64, bool) {
	h.init()
	s := &Subscription{C: make(chan *Frame, subscriberBuffer), user: user, recheck: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	mine := h.perUser[user]
	if max > 0 && len(mine) >= max {
		return nil, 0, false
	}
	if mine == nil {
		mine = map[*Subscription]struct{}{}
		h.perUser[user] = mine
	}
	mine[s] = struct{}{}
	h.subs[s] = struct{}{}
	return s, h.lastID, true
}

// Unsubscribe removes a subscriber.
func (h *Hub) Unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(s)
	if mine := h.perUser[s.user]; mine != nil {
		delete(mine, s)
		if len(mine) == 0 {
			delete(h.perUser, s.user)
		}
	}
}

// drop stops feeding s (h.mu held); its slot of the user's cap is freed
// by Unsubscribe, when its stream has ended.
func (h *Hub) drop(s *Subscription) {
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		s.closed = true
		close(s.C)
	}
}

func (h *Hub) recheckUser(user int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.perUser[user] {
		select {
		case s.recheck <- struct{}{}:
		default:
		}
	}
}

func (h *Hub) recheckAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, mine := range h.perUser {
		for s := range mine {
			select {
			case s.recheck <- struct{}{}:
			default:
			}
		}
	}
}

// CloseAll ends every client's stream: on shutdown, so the clients
// reconnect (to another replica) and resume from their last event, rather
// than hold a connection the server no longer feeds.
func (h *Hub) CloseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.drop(s)
	}
}

// Subscribers counts connected clients.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
