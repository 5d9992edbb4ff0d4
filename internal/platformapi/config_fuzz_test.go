package platformapi_test

import (
	"strings"
	"testing"

	"github.com/plattr/plattr/internal/platformapi"
)

// FuzzParseConfig: the API's configuration from any environment does not
// panic, and one it accepts holds what the API relies on: a PostgreSQL
// URL, positive intervals, a status template with {path}, a tenant limit,
// site admins as lowercase addresses. Run alone with
// go test ./internal/platformapi/ -run '^$' -fuzz FuzzParseConfig (no servers).
func FuzzParseConfig(f *testing.F) {
	f.Add("DATABASE_URL=postgres://u:p@h:5432/db")
	f.Add("DATABASE_URL=postgres://u:p@h/db\nSTATUS_URL_TEMPLATE=http://169.254.169.254{path}\nTENANTS_PER_USER=-1\nSTATUS_DEBOUNCE=0s")
	f.Add("DATABASE_URL=mysql://h/db\nSITE_ADMINS=Eve <eve@x.test>,ADMIN@X.TEST,\nOIDC_ISSUER_URL=javascript:x\nOIDC_CLIENT_ID=a\nOIDC_CLIENT_SECRET=b")
	f.Add("DATABASE_URL=postgres://h/d\nPUBLIC_URL=https://p.example.com/\nSESSION_TTL=-1h\nDB_MAX_CONNS=99999999999999999999\nPRICE_CPU_CORE_HOUR=NaN")
	f.Fuzz(func(t *testing.T, env string) {
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vars[k] = v
			}
		}
		c, err := platformapi.ParseConfig(func(k string) string { return vars[k] })
		if err != nil {
			return
		}
		if !strings.HasPrefix(c.DatabaseURL, "postgres") || !strings.Contains(c.StatusURLTemplate, "{path}") {
			t.Fatalf("accepted %+v", c)
		}
		if c.SessionTTL <= 0 || c.TaskLease <= 0 || c.StatusPollInterval <= 0 || c.StatusPollTimeout <= 0 || c.StatusDebounce <= 0 ||
			c.TenantsPerUser <= 0 || c.DBMaxConns <= 0 || c.CostSampleInterval <= 0 || c.EventRetention <= 0 {
			t.Fatalf("accepted a non-positive setting: %+v", c)
		}
		if c.Prices.CPUCoreHour != c.Prices.CPUCoreHour || c.Prices.MemoryGiBHour != c.Prices.MemoryGiBHour {
			t.Fatalf("accepted a NaN price: %+v", c.Prices)
		}
		for _, a := range c.SiteAdmins {
			if a != strings.ToLower(a) || !strings.Contains(a, "@") || strings.ContainsAny(a, "<> ") {
				t.Fatalf("site admin %q", a)
			}
		}
	})
}
