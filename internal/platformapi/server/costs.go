package server

import (
	"slices"
	"time"

	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/costs"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// parseTime reads RFC 3339 or a date (midnight UTC).
func parseTime(v string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func (s *Server) costSummary(c *call) (any, error) {
	q := c.r.URL.Query()
	to, from := time.Now().UTC(), time.Now().UTC().AddDate(0, 0, -30)
	if v := q.Get("to"); v != "" {
		t, ok := parseTime(v)
		if !ok {
			return nil, badRequest("to", "to=%q: want an RFC 3339 time or a date such as 2026-11-01", v)
		}
		to = t
	}
	if v := q.Get("from"); v != "" {
		t, ok := parseTime(v)
		if !ok {
			return nil, badRequest("from", "from=%q: want an RFC 3339 time or a date such as 2026-11-01", v)
		}
		from = t
	}
	if !from.Before(to) {
		return nil, badRequest("from", "from must be before to")
	}
	usage, err := s.Store.UsageBetween(c.ctx(), from, to)
	if err != nil {
		return nil, err
	}
	if !c.p.User.SiteAdmin {
		// Deleted apps' usage is not shown under a name a new app (or a new
		// tenant's namespace) may have taken; site admins' totals keep it.
		usage = slices.DeleteFunc(usage, func(u store.Usage) bool { return u.Retired })
	}
	return costs.Summarize(from, to, s.Prices, usage, func(k store.AppKey) bool {
		return c.p.Can(authz.ViewApp, k.Namespace, k.Name)
	}), nil
}
