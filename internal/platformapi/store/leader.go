package store

import (
	"context"
	"time"
)

// Lock ids of work one replica does for all (pg_advisory_lock keys).
const (
	LockStatusPoller int64 = 7366101
	LockCostSampler  int64 = 7366102
)

// Leading runs f while this process holds the session advisory lock id,
// so exactly one replica runs it; when the holder's connection drops,
// another replica takes over within retry. f's context ends when the
// lock is lost.
func (s *Store) Leading(ctx context.Context, id int64, retry time.Duration, f func(context.Context)) {
	for ctx.Err() == nil {
		s.leadOnce(ctx, id, f)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

func (s *Store) leadOnce(ctx context.Context, id int64, f func(context.Context)) {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return
	}
	c := conn.Hijack() // the lock lives and dies with this connection
	defer c.Close(context.Background())
	var got bool
	if err := c.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", id).Scan(&got); err != nil || !got {
		return
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// Losing the connection loses the lock: stop f.
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				if err := c.Ping(lctx); err != nil {
					cancel()
					return
				}
			}
		}
	}()
	f(lctx)
}
