package image_test

import (
	"archive/tar"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/plattr/plattr/internal/image"
	"github.com/plattr/plattr/internal/testenv"
)

// The platform API's image: built from the real binary, pushed to an
// in-process registry, pulled back and checked — entrypoint, user, labels,
// a reproducible digest — and the binary taken out of the image runs.
func TestImageBuildPushPullRun(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "plattr-api")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/plattr-api")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	spec := image.Spec{Name: "plattr-api", Binary: bin, Version: "v0.0.0-test", Revision: "abc123"}
	img, err := image.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := image.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Fatalf("two builds of one binary differ: %s vs %s", d1, d2)
	}

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pushed, err := image.Push(ctx, img, host+"/plattr/plattr-api:test", true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(pushed, d1.String()) {
		t.Fatalf("pushed %s, built %s", pushed, d1)
	}
	ref, _ := name.ParseReference(host+"/plattr/plattr-api:test", name.Insecure)
	pulled, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := pulled.Digest(); d != d1 {
		t.Fatalf("pulled %s, pushed %s", d, d1)
	}
	cfg, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/usr/local/bin/plattr-api" || cfg.Config.User != "65532:65532" {
		t.Fatalf("entrypoint %q, user %q", got, cfg.Config.User)
	}
	for k, v := range map[string]string{"org.opencontainers.image.version": "v0.0.0-test", "org.opencontainers.image.revision": "abc123",
		"org.opencontainers.image.title": "plattr-api"} {
		if cfg.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Config.Labels[k], v)
		}
	}
	m, _ := pulled.Manifest()
	t.Logf("image %s: %d layer(s), %d bytes compressed", d1, len(m.Layers), m.Layers[0].Size)

	// The image's files: no shell, the binary, certificates; the binary runs.
	layers, _ := pulled.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	seen := map[string]bool{}
	out := filepath.Join(t.TempDir(), "from-image")
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = true
		if h.Name == "usr/local/bin/plattr-api" {
			f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	for _, want := range []string{"usr/local/bin/plattr-api", "etc/ssl/certs/ca-certificates.crt", "etc/passwd"} {
		if !seen[want] {
			t.Errorf("the image lacks %s", want)
		}
	}
	for _, shell := range []string{"bin/sh", "bin/bash"} {
		if seen[shell] {
			t.Errorf("the image has a shell: %s", shell)
		}
	}
	run := exec.Command(out)
	run.Env = []string{} // no configuration: it must say what is missing
	msg, err := run.CombinedOutput()
	if code := run.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(msg), "DATABASE_URL is not set") {
		t.Fatalf("the binary from the image: exit %d (%v): %s", code, err, msg)
	}
}
