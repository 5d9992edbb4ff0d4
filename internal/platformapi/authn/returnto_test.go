package authn

import (
	"net/url"
	"strings"
	"testing"
)

// The strings browsers are known to follow to another host, and paths
// that must keep working.
func TestSafeReturnTo(t *testing.T) {
	for in, want := range map[string]string{
		"/api/v1/me":              "/api/v1/me",
		"/apps/team-a/shop?x=1#y": "/apps/team-a/shop?x=1#y",
		"/":                       "/",
		"":                        "/",
		`/\evil.com`:              "/",
		"//evil.com":              "/",
		"///evil.com":             "/",
		"/\t/evil.com":            "/",
		"/\n/evil.com":            "/",
		"/%5cevil.com":            "/",
		"/%5Cevil.com":            "/",
		"/%2f/evil.com":           "/",
		"/%09/evil.com":           "/",
		"https://evil.com":        "/",
		"http:/evil.com":          "/",
		"javascript:alert(1)":     "/",
		"evil.com":                "/",
		"/a\\b":                   "/",
		"/a b":                    "/",
		"/é":                      "/",
		"/%zz":                    "/",
	} {
		if got := SafeReturnTo(in); got != want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}

// Whatever SafeReturnTo lets through is a same-origin path.
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/api/v1/me", `/\evil.com`, "//evil.com", "/\t/evil.com", "/%5cevil.com", "https://evil.com", "/a?b=//c", "/%2F%2Fevil.com", "/.//evil.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := SafeReturnTo(in)
		if out != "/" && out != in {
			t.Fatalf("SafeReturnTo(%q) = %q: neither the input nor /", in, out)
		}
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.HasPrefix(out, `/\`) {
			t.Fatalf("SafeReturnTo(%q) = %q: not a single-slash path", in, out)
		}
		for _, c := range []byte(out) {
			if c == '\\' || c < ' ' || c == 0x7f {
				t.Fatalf("SafeReturnTo(%q) = %q: holds %q", in, out, c)
			}
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "" || u.Host != "" {
			t.Fatalf("SafeReturnTo(%q) = %q: parses to scheme %q host %q (%v)", in, out, u.Scheme, u.Host, err)
		}
		// Resolved against this site, as a browser does, it stays here.
		base, _ := url.Parse("https://platform.example.com/auth/callback")
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
			t.Fatalf("SafeReturnTo(%q) = %q: resolves to %s", in, out, r)
		}
	})
}
