package ext

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// Metadata is what a chart's Chart.yaml says about it.
type Metadata struct {
	APIVersion  string            `json:"apiVersion"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	AppVersion  string            `json:"appVersion"`
	Annotations map[string]string `json:"annotations"`
}

// Git annotations of Chart.yaml.
const (
	AnnotationGitCommit   = "platz.io/git/commit"
	AnnotationGitBranch   = "platz.io/git/branch"
	AnnotationGitRepo     = "platz.io/git/repo"
	AnnotationGitProvider = "platz.io/git/provider"
)

// Chart is a packaged chart's metadata and extensions.
type Chart struct {
	Metadata Metadata
	// Ext is the parsed extensions; nil with ExtErr set when they do not
	// parse.
	Ext    *Extensions
	ExtErr error
}

// maxUnpacked bounds what is read out of an archive in all, so a small
// archive that inflates hugely (a gzip bomb) cannot exhaust memory.
const maxUnpacked = 64 << 20

// ReadArchive reads a packaged chart (.tgz): its Chart.yaml and extension
// files only. An archive that is no chart is an error; extensions that do
// not parse are not (Chart.ExtErr).
func ReadArchive(tgz []byte) (*Chart, error) {
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("not a gzipped chart archive: %v", err)
	}
	tr := tar.NewReader(io.LimitReader(gz, maxUnpacked))
	var root string
	var chartYAML []byte
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the chart archive: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(h.Name, "./")
		top, rest, ok := strings.Cut(name, "/")
		if !ok {
			continue
		}
		if root == "" {
			root = top
		}
		// Only the chart's own files: a subchart's (charts/x/…) are its.
		if top != root || (rest != "Chart.yaml" && !Wanted(rest)) {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxExtFileBytes+1))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %v", name, err)
		}
		if rest == "Chart.yaml" {
			chartYAML = b
		} else {
			files[rest] = b
		}
	}
	if chartYAML == nil {
		return nil, fmt.Errorf("the archive has no Chart.yaml")
	}
	c := &Chart{}
	if err := yaml.Unmarshal(chartYAML, &c.Metadata); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	if c.Metadata.Name == "" || c.Metadata.Version == "" {
		return nil, fmt.Errorf("Chart.yaml: name and version are required")
	}
	c.Ext, c.ExtErr = Parse(files)
	return c, nil
}
