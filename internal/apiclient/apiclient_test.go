package apiclient_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/plattr/plattr/internal/apiclient"
	"github.com/plattr/plattr/internal/platformapi/authn/githubtest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Which credential is sent: an explicit token wins; in GitHub Actions the
// job's ID token, fetched from the runtime endpoint (githubtest's fake of
// GitHub's documented API) for the audience asked; nothing else is a clear
// error, never a silent fallback.
func TestCredentials(t *testing.T) {
	is := githubtest.Start()
	defer is.Close()
	rt := is.StartRuntime(is.Job("example/hello", "refs/heads/main", "ignored"))
	defer rt.Close()
	var got []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 7, "state": "Done", "actor": "x"})
	}))
	defer api.Close()

	actions := map[string]string{apiclient.EnvURL: api.URL, apiclient.EnvActionsRequestURL: rt.RequestURL(), apiclient.EnvActionsRequestToken: rt.RequestToken}
	for _, c := range []struct {
		name    string
		o       apiclient.Options
		want    string // prefix of the bearer sent, or of the error
		keyless bool
	}{
		{"token from the environment", apiclient.Options{Getenv: env(map[string]string{apiclient.EnvURL: api.URL, apiclient.EnvToken: "plattr_abc"})}, "Bearer plattr_abc", false},
		{"the flag wins", apiclient.Options{Token: "plattr_flag", Getenv: env(map[string]string{apiclient.EnvURL: api.URL, apiclient.EnvToken: "plattr_abc"})}, "Bearer plattr_flag", false},
		{"GitHub Actions", apiclient.Options{Getenv: env(actions)}, "Bearer ey", true},
		{"no URL", apiclient.Options{Getenv: env(map[string]string{apiclient.EnvActionsRequestURL: rt.RequestURL()})}, "error: no platform API", false},
		{"no credential", apiclient.Options{Getenv: env(map[string]string{apiclient.EnvURL: api.URL})}, "error: no credentials", false},
	} {
		got = nil
		if !apiclient.Wanted(c.o) {
			t.Errorf("%s: not wanted", c.name)
		}
		cl, err := apiclient.New(c.o)
		if err != nil {
			if !strings.HasPrefix("error: "+err.Error(), c.want) {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if _, err := cl.GetTask(context.Background(), 7); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(got) != 1 || !strings.HasPrefix(got[0], c.want) || cl.Keyless != c.keyless {
			t.Errorf("%s: sent %v keyless %t, want %q", c.name, got, cl.Keyless, c.want)
		}
	}
	if a := rt.Audiences(); len(a) != 1 || a[0] != apiclient.DefaultAudience {
		t.Errorf("audiences asked: %v", a)
	}
	if apiclient.Wanted(apiclient.Options{Getenv: env(nil)}) {
		t.Error("wanted with nothing set: plattr deploy would leave kubectl mode")
	}
	// A wrong runtime token: GitHub's refusal, named.
	bad := map[string]string{apiclient.EnvURL: api.URL, apiclient.EnvActionsRequestURL: rt.RequestURL(), apiclient.EnvActionsRequestToken: "wrong"}
	cl, _ := apiclient.New(apiclient.Options{Getenv: env(bad)})
	if _, err := cl.GetTask(context.Background(), 7); err == nil || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("a refused ID token: %v", err)
	}
}
