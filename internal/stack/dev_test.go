package stack_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	for name, pkg := range map[string]string{"plattr-operator": "./cmd/operator", "plattr-api": "./cmd/plattr-api"} {
		build := exec.Command("go", "build", "-o", filepath.Join(binDir, name), pkg)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, out)
		}
	}
	for _, glob := range []string{"k8s-v*", "kwok-v*", "versitygw-v*", "dex-v*"} {
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

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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

	// A second up is a no-op on a running stack.
	if err := d.Up(ctx, &out); err != nil {
		t.Fatalf("second dev up: %v", err)
	}

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
