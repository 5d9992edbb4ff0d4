package discovery

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// TestCredentialsGoOnlyToTheRepositorysHost: an index may point its
// archives at any host; the source's credentials go to its own only.
func TestCredentialsGoOnlyToTheRepositorysHost(t *testing.T) {
	var mu sync.Mutex
	auth := map[string]string{}
	record := func(who string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			auth[who+" "+r.URL.Path] = r.Header.Get("Authorization")
			mu.Unlock()
			_, _ = w.Write([]byte("archive"))
		}
	}
	other := httptest.NewServer(record("other"))
	defer other.Close()
	repo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/index.yaml" {
			mu.Lock()
			auth["repo /index.yaml"] = r.Header.Get("Authorization")
			mu.Unlock()
			fmt.Fprintf(w, "entries:\n  a:\n    - {version: 1.0.0, digest: abc, urls: [a-1.0.0.tgz]}\n  b:\n    - {version: 2.0.0, urls: [%s/b-2.0.0.tgz]}\n", other.URL)
			return
		}
		record("repo")(w, r)
	}))
	defer repo.Close()
	h := &HelmRepo{Spec: platformv1.ChartSourceHelm{URL: repo.URL}, Creds: Credentials{Username: "u", Password: "secret"}}
	found, _, _, err := h.Index(t.Context(), "")
	if err != nil || len(found) != 2 || found[0].Digest != "sha256:abc" || found[0].URL != repo.URL+"/a-1.0.0.tgz" {
		t.Fatalf("index: %v %+v", err, found)
	}
	for _, f := range found {
		if _, err := h.Pull(t.Context(), f, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(auth["repo /index.yaml"], "Basic ") || !strings.HasPrefix(auth["repo /a-1.0.0.tgz"], "Basic ") {
		t.Errorf("the repository's own host did not get the credentials: %v", auth)
	}
	if got := auth["other /b-2.0.0.tgz"]; got != "" {
		t.Errorf("another host got the credentials: %q", got)
	}
	// The cap holds while reading.
	if _, err := h.Pull(t.Context(), found[0], 3); err == nil || !strings.Contains(err.Error(), "cap") {
		t.Errorf("over the cap: %v", err)
	}
}
