package statuspoll

import (
	"net"
	"net/url"
	"path"
	"strings"
	"testing"
)

// Addresses a Service or DNS name could point a poll at and that it must
// never reach.
func TestCheckIPRefusesMetadataLoopbackAndLinkLocal(t *testing.T) {
	for _, tc := range []struct {
		ip string
		ok bool
	}{
		{"169.254.169.254", false}, {"fd00:ec2::254", false}, {"169.254.0.1", false}, {"fe80::1", false},
		{"127.0.0.1", false}, {"127.1.2.3", false}, {"::1", false}, {"0.0.0.0", false}, {"::", false},
		{"224.0.0.1", false}, {"ff02::1", false}, {"::ffff:169.254.169.254", false}, {"::ffff:127.0.0.1", false},
		{"10.96.0.10", true}, {"172.20.3.4", true}, {"fd00:10:96::a", true},
	} {
		err := CheckIP(net.ParseIP(tc.ip))
		if (err == nil) != tc.ok {
			t.Errorf("CheckIP(%s) = %v, want ok=%v", tc.ip, err, tc.ok)
		}
	}
}

// FuzzParsePath: an accepted status path, put after the Service's address,
// names a path on that host only: no scheme, no other host, no user, no
// query, no "." or ".." segment (decoded or not).
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/status", "/healthz", "/api/v1/status", "/a%2Fb", "//169.254.169.254/latest", "/@169.254.169.254",
		"/..", "/../admin", "/%2e%2e/admin", "/a/%2E/b", "http://evil/", "/\\evil", "/a?x=1", "/a#f", "/%00",
		"/%zz", "/a/b/", "/" + strings.Repeat("a", 300), "/:80@evil.com", "/%2F%2Fevil.com", "", "status",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := ParsePath(p)
		if err != nil {
			return
		}
		if got != p || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || len(p) > 255 {
			t.Fatalf("accepted %q as %q", p, got)
		}
		u, err := url.Parse("http://10.96.0.10:80" + p)
		if err != nil || u.Host != "10.96.0.10:80" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("accepted %q: the URL is %v (%v)", p, u, err)
		}
		dec, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("accepted %q that does not decode: %v", p, err)
		}
		for _, seg := range strings.Split(dec, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted %q with a dot segment", p)
			}
		}
		if c := path.Clean(dec); !strings.HasPrefix(c, "/") || strings.Contains(c, "..") && strings.Contains(dec, "/../") {
			t.Fatalf("accepted %q that cleans to %q", p, c)
		}
	})
}
