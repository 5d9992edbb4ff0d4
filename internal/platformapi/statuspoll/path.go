package statuspoll

import (
	"errors"
	"net/url"
	"strings"
)

// ParsePath accepts a status path that can only name a path on the app's
// own host: absolute, not "//" (a host), no "." or ".." segment (also
// percent-encoded), no backslash, query, fragment or control character,
// only the characters the CRD's pattern allows, at most 255 bytes.
func ParsePath(p string) (string, error) {
	bad := errors.New("spec.statusPath: want a plain absolute path such as /status")
	if p == "" || p[0] != '/' || len(p) > 255 || strings.HasPrefix(p, "//") {
		return "", bad
	}
	for i := 0; i < len(p); i++ {
		if !pathByte(p[i]) {
			return "", bad
		}
	}
	dec, err := url.PathUnescape(p)
	if err != nil || strings.HasPrefix(dec, "//") || strings.ContainsAny(dec, "\\?#") {
		return "", bad
	}
	for i := 0; i < len(dec); i++ {
		if dec[i] < 0x20 || dec[i] == 0x7f {
			return "", bad
		}
	}
	for _, seg := range strings.Split(dec, "/") {
		if seg == "." || seg == ".." {
			return "", bad
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", bad
	}
	return p, nil
}

// pathByte is the CRD's pattern: ^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$.
func pathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._~!$&'()*+,;=:@%/-", c) >= 0
}
