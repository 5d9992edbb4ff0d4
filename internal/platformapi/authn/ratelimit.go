package authn

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a token bucket per client address, in memory: each replica
// counts its own callers (N replicas let N times the rate through, which
// still bounds the work one client can cause).
type Limiter struct {
	// PerMinute is the sustained rate and Burst the bucket's size.
	PerMinute, Burst int
	// TrustedProxies are the addresses of proxies (an ingress) whose
	// X-Forwarded-For is believed: the client is the right-most address
	// not in them. Without them the peer's address is the client.
	TrustedProxies []netip.Prefix

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// Allow takes one token from the client's bucket.
func (l *Limiter) Allow(r *http.Request) bool {
	if l == nil || l.PerMinute <= 0 {
		return true
	}
	key := l.ClientIP(r)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	// Forget idle clients now and then, so the map stays small.
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(l.PerMinute)/60), max(l.Burst, 1))}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// ClientIP is the caller's address, through trusted proxies only.
func (l *Limiter) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !l.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		if !l.trusted(h) {
			return h
		}
		host = h
	}
	return host
}

func (l *Limiter) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range l.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}
