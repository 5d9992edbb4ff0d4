package authn

import (
	"net/url"
	"strings"
)

// SafeReturnTo returns raw when it is a path on this site, and "/"
// otherwise, so the sign-in can never redirect elsewhere (no open
// redirect). Browsers read a Location of "//evil.com", "/\evil.com" or
// "/\t/evil.com" as another host (they turn backslashes into slashes and
// drop tabs and newlines), so the check is strict rather than clever: the
// value must start with one "/", must not start with "//" or "/\", must
// hold no backslash and no control or space character (encoded ones are
// refused too: %5c, %09, %2f%2f after decoding would be the same tricks),
// and url.Parse must find neither a scheme nor a host.
func SafeReturnTo(raw string) string {
	if isSafeReturnTo(raw) {
		return raw
	}
	return "/"
}

func isSafeReturnTo(raw string) bool {
	if len(raw) == 0 || len(raw) > 2048 || raw[0] != '/' {
		return false
	}
	if len(raw) > 1 && (raw[1] == '/' || raw[1] == '\\') {
		return false
	}
	if !plainPath(raw) {
		return false
	}
	// What a server or browser might decode it to must be as plain.
	if dec, err := url.PathUnescape(raw); err != nil || !plainPath(dec) || strings.HasPrefix(dec, "//") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(u.Path, "//")
}

// plainPath refuses backslashes, control characters, spaces and anything
// outside printable ASCII.
func plainPath(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}
