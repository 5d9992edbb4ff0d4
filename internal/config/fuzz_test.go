package config

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseTTL: an accepted TTL (a preview's spec.ttl, PREVIEW_MAX_TTL) is
// positive, never wraps around, and reads back the same when written as
// its number of minutes.
func FuzzParseTTL(f *testing.F) {
	for _, s := range []string{"72h", "30m", "7d", "0h", "-1h", "1", "h", "1w", "01h", "+5m", " 5m",
		"9223372036854775807m", "106751d", "106752d", "2562047h", "2562048h", "153722867m", "153722868m",
		"99999999999999999999d", "1e3h", "0x10h", "1_0h", "٣h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTTL(s)
		if err != nil {
			return
		}
		if d <= 0 || d%time.Minute != 0 {
			t.Fatalf("ParseTTL(%q) = %v", s, d)
		}
		back, err := ParseTTL(strconv.FormatInt(int64(d/time.Minute), 10) + "m")
		if err != nil || back != d {
			t.Fatalf("ParseTTL(%q) = %v, which reads back as %v (%v)", s, d, back, err)
		}
	})
}

// FuzzParse: the operator's configuration from any environment does not
// panic, and one it accepts has what the operator relies on: a base
// domain, positive intervals and TTL, labels for the API's pods, valid
// egress CIDRs.
func FuzzParse(f *testing.F) {
	f.Add("BASE_DOMAIN=apps.example.com\nDB_ADMIN_URL=postgres://u:p@h/db")
	f.Add("BASE_DOMAIN=apps.example.com\nDB_ADMIN_URL=postgres://u:p@h/db\nPREVIEW_MAX_TTL=106752d\nEGRESS_DENY_CIDRS=10.0.0.0/8,::1/128")
	f.Add("BASE_DOMAIN=a\nDB_ADMIN_URL=x\nPLATFORM_API_POD_LABELS=a=b,=c,d\nENVIRONMENT_QUOTAS={\"staging\":{\"cpu\":\"-1\"}}")
	f.Add("BASE_DOMAIN=..\nENVIRONMENT_NAMESPACES=a=b,c\nMAX_CONCURRENT_RECONCILES=-5\nKUBE_API_QPS=99999999999999999999")
	f.Add("BASE_DOMAIN=a.b\nDB_ADMIN_URL=postgres://h/d\nAUTH_PROVIDER=keycloak\nKEYCLOAK_URL=javascript:alert(1)\nS3_ENDPOINT=http://169.254.169.254")
	f.Fuzz(func(t *testing.T, env string) {
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		c, err := Parse(func(k string) string { return vars[k] })
		if err != nil {
			return
		}
		if c.BaseDomain == "" || c.PreviewMaxTTL <= 0 || len(c.PlatformAPIPodLabels) == 0 {
			t.Fatalf("accepted %+v", c)
		}
		if c.MaxConcurrentReconciles <= 0 || c.KubeAPIBurst <= 0 || c.KubeAPIQPS <= 0 {
			t.Fatalf("accepted non-positive limits: %+v", c)
		}
	})
}
