package registry

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestManifestsSurviveARestart: what go-containerregistry's registry keeps
// in memory is back after the registry is made again from its directory;
// a deleted tag stays deleted.
func TestManifestsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	reg, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, _ := random.Image(1024, 1)
	keep, _ := name.ParseReference(host+"/charts/keep:1.0.0", name.Insecure)
	drop, _ := name.ParseReference(host+"/charts/drop:1.0.0", name.Insecure)
	for _, ref := range []name.Reference{keep, drop} {
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.Delete(drop); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_ = reg.Close()

	reg, err = New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	srv = httptest.NewServer(reg)
	defer srv.Close()
	host2 := strings.TrimPrefix(srv.URL, "http://")
	keep2, _ := name.ParseReference(host2+"/charts/keep:1.0.0", name.Insecure)
	got, err := remote.Image(keep2)
	if err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("digest %s, want %s", d, want)
	}
	// The layers come back from disk too.
	layers, _ := got.Layers()
	if rc, err := layers[0].Compressed(); err != nil {
		t.Errorf("layer: %v", err)
	} else {
		rc.Close()
	}
	drop2, _ := name.ParseReference(host2+"/charts/drop:1.0.0", name.Insecure)
	if _, err := remote.Image(drop2); err == nil {
		t.Error("a deleted manifest came back")
	}
	reg2, _ := name.NewRegistry(host2, name.Insecure)
	repos, err := remote.Catalog(t.Context(), reg2)
	if err != nil || !strings.Contains(strings.Join(repos, ","), "charts/keep") {
		t.Errorf("catalog = %v, %v", repos, err)
	}
}
