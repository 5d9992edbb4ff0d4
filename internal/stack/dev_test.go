package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/stack"
	"github.com/plattr/plattr/internal/testenv"
)

// TestDevUpStatusEnvDown runs the local stack's whole life cycle the way
// `plattr dev` does: real processes in the background, found again by a
// later command through the state directory.
func TestDevUpStatusEnvDown(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	// The stack finds its binaries next to plattr: the operator we build now
	// and the control plane hack/build-tools.sh built.
	for name, pkg := range map[string]string{"plattr-operator": "./cmd/operator", "plattr-api": "./cmd/plattr-api", "plattr": "./cmd/plattr"} {
		build := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, out)
		}
	}
	for _, glob := range []string{"k8s-v*", "kwok-v*", "versitygw-v*", "dex-v*", "nats-v*"} {
		matches, _ := filepath.Glob(filepath.Join(root, "bin", glob))
		for _, m := range matches {
			if err := os.Symlink(m, filepath.Join(binDir, filepath.Base(m))); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir, err := os.MkdirTemp("", "plattr-dev-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	d := &stack.Dev{Dir: filepath.Join(dir, "state"), BinDir: binDir}
	t.Cleanup(func() { _ = d.Down(true); _ = os.RemoveAll(dir) })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	if err := d.Up(ctx, &out); err != nil {
		t.Fatalf("dev up: %v\n%s", err, out.String())
	}
	t.Logf("dev up in %s:\n%s", time.Since(start).Round(time.Millisecond), out.String())

	for name, running := range d.Status() {
		if !running {
			t.Errorf("%s is not running after dev up", name)
		}
	}
	env, err := d.Env()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, kv := range env {
		vars[kv[0]] = kv[1]
	}
	if _, err := os.Stat(vars["KUBECONFIG"]); err != nil {
		t.Errorf("KUBECONFIG %q: %v", vars["KUBECONFIG"], err)
	}
	checkPublicAggregator(t, vars["KUBECONFIG"])
	if !strings.HasPrefix(vars["DB_ADMIN_URL"], "postgres://") {
		t.Errorf("DB_ADMIN_URL = %q", vars["DB_ADMIN_URL"])
	}
	resp, err := http.Get(vars["PLATTR_OPERATOR_METRICS"])
	if err != nil {
		t.Fatalf("operator metrics: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("operator metrics answered %s", resp.Status)
	}

	// The object store and Dex answer where dev env says.
	resp, err = http.Get(vars["DEX_ISSUER_URL"] + "/.well-known/openid-configuration")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("Dex discovery document at %s: %v %v", vars["DEX_ISSUER_URL"], resp, err)
	} else {
		resp.Body.Close()
	}
	resp, err = http.Get(vars["S3_ENDPOINT"])
	if err != nil {
		t.Errorf("object store at %s: %v", vars["S3_ENDPOINT"], err)
	} else {
		resp.Body.Close()
	}
	if vars["S3_ACCESS_KEY_ID"] == "" || vars["S3_SECRET_ACCESS_KEY"] == "" || vars["PLATTR_DEV_PASSWORD"] == "" {
		t.Errorf("dev env lacks the object store's keys or the dev user's password")
	}

	checkMessaging(t, vars)

	// The platform API answers with the local site admin's token, as the
	// README's curl does.
	req, _ := http.NewRequest("GET", vars["PLATTR_API_URL"]+"/api/v1/apps", nil)
	req.Header.Set("Authorization", "Bearer "+vars["PLATTR_TOKEN"])
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s/api/v1/apps with PLATTR_TOKEN: %v %v", vars["PLATTR_API_URL"], resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ = http.NewRequest("GET", vars["PLATTR_API_URL"]+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+vars["PLATTR_TOKEN"])
	if resp, err = http.DefaultClient.Do(req); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"siteAdmin":true`) || !strings.Contains(string(body), stack.DevUserEmail) {
			t.Errorf("PLATTR_TOKEN is not the local site admin's: %s", body)
		}
	}

	// The token came from plattr-api into an owner-only file, and went
	// nowhere else: not into dev up's output, nor any process's log.
	token := vars["PLATTR_TOKEN"]
	if fi, err := os.Stat(d.TokenFile()); err != nil || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(token, "plattr_") {
		t.Errorf("token file %s: %v %v; PLATTR_TOKEN %d characters", d.TokenFile(), fi, err, len(token))
	}
	assertNotLogged(t, d.Dir, out.String(), token)

	// A second up is a no-op on a running stack, and keeps the token.
	if err := d.Up(ctx, &out); err != nil {
		t.Fatalf("second dev up: %v", err)
	}
	if got := readToken(t, d); got != token {
		t.Errorf("a second dev up replaced a working token")
	}

	// A token that no longer works (revoked here; expired, or from a
	// database that was reset, alike) is replaced by the next up.
	if status := apiCall(t, "DELETE", vars["PLATTR_API_URL"]+"/api/v1/tokens/"+devTokenID(t, vars["PLATTR_API_URL"], token), token); status != http.StatusNoContent {
		t.Fatalf("revoking the dev token: HTTP %d", status)
	}
	if status := apiCall(t, "GET", vars["PLATTR_API_URL"]+"/api/v1/me", token); status != http.StatusUnauthorized {
		t.Fatalf("a revoked token still works: HTTP %d", status)
	}
	if err := d.Up(ctx, &out); err != nil {
		t.Fatalf("dev up after the token was revoked: %v", err)
	}
	renewed := readToken(t, d)
	if renewed == token || apiCall(t, "GET", vars["PLATTR_API_URL"]+"/api/v1/me", renewed) != http.StatusOK {
		t.Errorf("dev up did not replace the revoked token with a working one")
	}

	// One close to expiry (an hour left, issued as plattr-api issues any
	// token) is replaced too, and the old one revoked.
	mint := exec.Command(filepath.Join(binDir, "plattr-api"), "token", "--email", stack.DevUserEmail,
		"--name", "plattr dev", "--expires-in", "1h", "--out", d.TokenFile())
	mint.Env = append(os.Environ(), "DATABASE_URL="+vars["DB_ADMIN_URL"], "SITE_ADMINS="+stack.DevUserEmail)
	if b, err := mint.CombinedOutput(); err != nil || len(b) != 0 {
		t.Fatalf("plattr-api token --out: %v, printed %q (want nothing)", err, b)
	}
	expiring := readToken(t, d)
	if err := d.Up(ctx, &out); err != nil {
		t.Fatalf("dev up with an expiring token: %v", err)
	}
	fresh := readToken(t, d)
	if fresh == expiring || apiCall(t, "GET", vars["PLATTR_API_URL"]+"/api/v1/me", fresh) != http.StatusOK {
		t.Errorf("dev up kept a token with an hour left")
	}
	if status := apiCall(t, "GET", vars["PLATTR_API_URL"]+"/api/v1/me", expiring); status != http.StatusUnauthorized {
		t.Errorf("the replaced token still works (HTTP %d): dev up did not revoke it", status)
	}
	assertNotLogged(t, d.Dir, out.String(), renewed, expiring, fresh)

	// A chart pushed to PLATTR_REGISTRY is discovered by the ChartSource
	// local and is still served after the stack restarts.
	checkLocalRegistry(ctx, t, d, vars)

	if err := d.Down(true); err != nil {
		t.Fatalf("dev down: %v", err)
	}
	for name, running := range d.Status() {
		if running {
			t.Errorf("%s still running after dev down", name)
		}
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "kube")); !os.IsNotExist(err) {
		t.Errorf("--purge left the state directory: %v", err)
	}
}

func readToken(t *testing.T, d *stack.Dev) string {
	t.Helper()
	b, err := os.ReadFile(d.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func apiCall(t *testing.T, method, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// devTokenID is the ID the API lists token under.
func devTokenID(t *testing.T, apiURL, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", apiURL+"/api/v1/tokens", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct {
		ID   int64  `json:"id"`
		Hint string `json:"hint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, tok := range list {
		if strings.HasPrefix(token, strings.TrimSuffix(tok.Hint, "…")) {
			return strconv.FormatInt(tok.ID, 10)
		}
	}
	t.Fatalf("the API lists no token like PLATTR_TOKEN: %+v", list)
	return ""
}

// assertNotLogged fails if any token is in output or in a file of the
// state directory other than the token file.
func assertNotLogged(t *testing.T, dir, output string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if strings.Contains(output, tok) {
			t.Errorf("dev up printed the API token")
		}
	}
	_ = filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() == "api.token" || strings.Contains(path, "/postgres/") {
			return nil // PostgreSQL's own files hold only the token's hash
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, tok := range tokens {
			if bytes.Contains(b, []byte(tok)) {
				t.Errorf("%s holds an API token", path)
			}
		}
		return nil
	})
}
