package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen delivers the database's notifications on channels to handle
// until ctx ends. It holds one connection of its own and reconnects after
// a drop; onConnect runs after every (re)connection, so a consumer can
// catch up on what it missed while disconnected.
func (s *Store) Listen(ctx context.Context, channels []string, onConnect func(), handle func(channel, payload string)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, channels, onConnect, handle)
		if ctx.Err() != nil {
			return
		}
		_ = err // a dropped connection: wait and reconnect
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, channels []string, onConnect func(), handle func(channel, payload string)) error {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection keeps its LISTENs; it must not go back to the pool.
	c := conn.Hijack()
	defer c.Close(context.Background())
	for _, ch := range channels {
		if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	if onConnect != nil {
		onConnect()
	}
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		handle(n.Channel, n.Payload)
	}
}
