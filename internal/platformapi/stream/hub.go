// Package stream turns the database's change feed into server-sent events.
// Every change the API records inserts a row into plattr_api.events and
// NOTIFYs its id (store/migrations); each API replica's Hub LISTENs, reads
// new rows once, and fans them out to its connected clients, each filtered
// by what that client may see. A client that reconnects with Last-Event-ID
// is replayed what it missed from the table.
package stream

import (
	"context"
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

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	lastID int64
	fetch  chan struct{}
	ready  chan struct{}
}

// Subscription receives events until closed; C is closed when the client
// fell too far behind (it reconnects and resumes from its last id).
type Subscription struct {
	C      chan store.Event
	closed bool
}

const subscriberBuffer = 512

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
	h.Store.Listen(ctx, []string{store.ChannelEvents, store.ChannelTasks}, func() {
		// (Re)connected: catch up on anything published while away.
		h.kick()
		if h.OnTasks != nil {
			h.OnTasks()
		}
		h.markReady()
	}, func(channel, _ string) {
		switch channel {
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
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastID = events[len(events)-1].ID
	for s := range h.subs {
		for _, e := range events {
			select {
			case s.C <- e:
			default:
				// Too slow: drop it; the client resumes from its last id.
				delete(h.subs, s)
				s.closed = true
				close(s.C)
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
	h.init()
	s := &Subscription{C: make(chan store.Event, subscriberBuffer)}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	return s, h.lastID
}

// Unsubscribe removes a subscriber.
func (h *Hub) Unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		s.closed = true
		close(s.C)
	}
}

// CloseAll ends every client's stream: on shutdown, so the clients
// reconnect (to another replica) and resume from their last event, rather
// than hold a connection the server no longer feeds.
func (h *Hub) CloseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		delete(h.subs, s)
		s.closed = true
		close(s.C)
	}
}

// Subscribers counts connected clients.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
