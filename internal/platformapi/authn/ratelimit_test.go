package authn

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// X-Forwarded-For counts only through a trusted proxy, and then only the
// right-most address the proxies did not add: a client cannot pick its
// own bucket by sending the header.
func TestLimiterClientIP(t *testing.T) {
	l := &Limiter{PerMinute: 2, Burst: 2, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	for _, tc := range []struct{ peer, xff, want string }{
		{"203.0.113.9:5000", "", "203.0.113.9"},
		{"203.0.113.9:5000", "1.2.3.4", "203.0.113.9"},              // not from a proxy: ignored
		{"10.1.2.3:5000", "198.51.100.7", "198.51.100.7"},           // through the ingress
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.7", "198.51.100.7"},  // the client's own prefix is not believed
		{"10.1.2.3:5000", "198.51.100.7, 10.9.9.9", "198.51.100.7"}, // two proxies
		{"10.1.2.3:5000", "", "10.1.2.3"},
	} {
		r := httptest.NewRequest("GET", LoginPath, nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := l.ClientIP(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
	// The bucket: Burst calls, then refused; another client has its own.
	r := httptest.NewRequest("GET", LoginPath, nil)
	r.RemoteAddr = "203.0.113.1:1"
	first, second, third := l.Allow(r), l.Allow(r), l.Allow(r)
	if !first || !second || third {
		t.Fatal("the bucket does not hold 2")
	}
	r.RemoteAddr = "203.0.113.2:1"
	if !l.Allow(r) {
		t.Fatal("another client shares the bucket")
	}
}
