// Package image builds Plattr's container images without Docker: a static
// Go binary, the CA certificates and a passwd entry for a non-root user,
// as one layer on an empty base (no shell, no package manager), with OCI
// labels. Every timestamp is fixed, so the same binary gives the same
// digest on any machine.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRoot is the user the images run as (distroless's "nonroot").
const NonRoot = 65532

// Spec describes one image.
type Spec struct {
	// Name is the binary's name, installed at /usr/local/bin/<Name>.
	Name string
	// Binary is the path of a static Linux binary (CGO_ENABLED=0).
	Binary string
	// CACerts is a PEM bundle installed at /etc/ssl/certs/ca-certificates.crt
	// [/etc/ssl/certs/ca-certificates.crt of this machine].
	CACerts string
	// Labels are added to the OCI labels Build sets itself.
	Labels map[string]string
	// Version and Revision become org.opencontainers.image.version/revision.
	Version, Revision string
	// Created is the image's creation time [the Unix epoch], fixed so the
	// digest is reproducible.
	Created time.Time
	// Platform [linux/amd64].
	OS, Arch string
}

// Build makes the image.
func Build(s Spec) (v1.Image, error) {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w", err)
	}
	if s.CACerts == "" {
		s.CACerts = "/etc/ssl/certs/ca-certificates.crt"
	}
	certs, err := os.ReadFile(s.CACerts)
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificates (install Debian's ca-certificates): %w", err)
	}
	if s.OS == "" {
		s.OS, s.Arch = "linux", "amd64"
	}
	created := s.Created
	if created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRoot, NonRoot)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRoot)
	layer, err := tarLayer(created, []file{
		{path: "etc/", dir: true, mode: 0o755},
		{path: "etc/passwd", data: []byte(passwd), mode: 0o644},
		{path: "etc/group", data: []byte(group), mode: 0o644},
		{path: "etc/ssl/", dir: true, mode: 0o755},
		{path: "etc/ssl/certs/", dir: true, mode: 0o755},
		{path: "etc/ssl/certs/ca-certificates.crt", data: certs, mode: 0o644},
		{path: "home/", dir: true, mode: 0o755},
		{path: "home/nonroot/", dir: true, mode: 0o700, uid: NonRoot},
		{path: "tmp/", dir: true, mode: 0o1777},
		{path: "usr/", dir: true, mode: 0o755},
		{path: "usr/local/", dir: true, mode: 0o755},
		{path: "usr/local/bin/", dir: true, mode: 0o755},
		{path: "usr/local/bin/" + s.Name, data: bin, mode: 0o755},
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Created = s.OS, s.Arch, v1.Time{Time: created}
	cfg.Config.Entrypoint = []string{"/usr/local/bin/" + s.Name}
	cfg.Config.User = fmt.Sprintf("%d:%d", NonRoot, NonRoot)
	cfg.Config.WorkingDir = "/home/nonroot"
	cfg.Config.Env = []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    s.Name,
		"org.opencontainers.image.source":   "https://github.com/plattr/plattr",
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
	}
	for k, v := range s.Labels {
		cfg.Config.Labels[k] = v
	}
	return mutate.ConfigFile(img, cfg)
}

type file struct {
	path string
	data []byte
	dir  bool
	mode int64
	uid  int
}

// tarLayer writes files into one gzip layer with fixed times and owners.
func tarLayer(modTime time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, ModTime: modTime, Uid: f.uid, Gid: f.uid, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !f.dir {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}
