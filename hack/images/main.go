// Command images builds Plattr's container images without Docker
// (internal/image): plattr-operator and plattr-api, static, on an empty
// base, as a non-root user. With -registry it pushes them; without, it
// writes each as an image tarball under bin/images for `docker load` or
// `crane push`. It prints each image's digest and size.
//
//	go run ./hack/images [-registry ghcr.io/acme] [-tag v0.1.0] [-insecure]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/plattr/plattr/internal/image"
)

func main() {
	registry := flag.String("registry", "", "push to this registry/prefix (e.g. ghcr.io/acme); empty writes tarballs to bin/images")
	tag := flag.String("tag", "dev", "image tag, also the version label")
	insecure := flag.Bool("insecure", false, "allow a plain-HTTP registry")
	flag.Parse()
	if err := run(*registry, *tag, *insecure); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(registry, tag string, insecure bool) error {
	revision, _ := exec.Command("git", "rev-parse", "HEAD").Output()
	tmp, err := os.MkdirTemp("", "plattr-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, b := range []struct{ name, pkg, versionVar string }{
		{"plattr-operator", "./cmd/operator", ""},
		{"plattr-api", "./cmd/plattr-api", "main.Version"},
	} {
		bin := filepath.Join(tmp, b.name)
		ldflags := "-s -w"
		if b.versionVar != "" {
			ldflags += " -X " + b.versionVar + "=" + tag
		}
		fmt.Printf("building %s (static, linux/amd64)…\n", b.name)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s: %w", b.name, err)
		}
		img, err := image.Build(image.Spec{Name: b.name, Binary: bin, Version: tag, Revision: strings.TrimSpace(string(revision))})
		if err != nil {
			return err
		}
		digest, _ := img.Digest()
		m, _ := img.Manifest()
		size := m.Config.Size
		for _, l := range m.Layers {
			size += l.Size
		}
		if registry == "" {
			dir := filepath.Join("bin", "images")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			ref, _ := name.ParseReference("plattr/" + b.name + ":" + tag)
			out := filepath.Join(dir, b.name+".tar")
			if err := tarball.WriteToFile(out, ref, img); err != nil {
				return err
			}
			fmt.Printf("  %s  %s  %.1f MB compressed → %s\n", b.name, digest, float64(size)/1e6, out)
			continue
		}
		pushed, err := image.Push(context.Background(), img, strings.TrimRight(registry, "/")+"/"+b.name+":"+tag, insecure)
		if err != nil {
			return err
		}
		fmt.Printf("  %s  %.1f MB compressed → %s\n", b.name, float64(size)/1e6, pushed)
	}
	return nil
}
