// Package discovery finds the chart versions a ChartSource serves — an OCI
// registry (its catalog or a configured list of repositories, their tags,
// each manifest, keeping Helm charts only) or a classic Helm repository
// (index.yaml, with its ETag) — and pulls a chart's archive, capped in
// size. It talks to registries only; the ChartSource controller decides
// what to record.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// HelmChartLayerMediaType is the media type of a Helm chart's archive in
// an OCI manifest.
const HelmChartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// Credentials are a source's basic credentials; empty is anonymous.
type Credentials struct{ Username, Password string }

// Found is one chart version a source serves.
type Found struct {
	// Repository is the OCI repository (charts/redis) or, for a Helm
	// repository, the chart's name.
	Repository string
	// Tag is the OCI tag or the index's version.
	Tag string
	// Digest identifies the content: the manifest's digest, or the index's
	// sha256 of the archive.
	Digest string
	// Layer is the chart archive's digest in the registry (OCI).
	Layer string
	// Size is the archive's size when the source says it (OCI).
	Size int64
	// URL is the archive's address (Helm repositories).
	URL string
	// AppVersion, from the index (Helm repositories).
	AppVersion string
}

// ErrNotChart: the artifact is not a Helm chart (another config media
// type); it is ignored.
var ErrNotChart = errors.New("not a Helm chart")

// OCI scans an OCI registry.
type OCI struct {
	Spec  platformv1.ChartSourceOCI
	Creds Credentials
	// Transport is the HTTP transport; nil is the default.
	Transport http.RoundTripper
}

func (o *OCI) options(ctx context.Context) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithUserAgent("plattr-operator")}
	if o.Creds.Username != "" || o.Creds.Password != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: o.Creds.Username, Password: o.Creds.Password}))
	} else {
		opts = append(opts, remote.WithAuth(authn.Anonymous))
	}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

func (o *OCI) nameOpts() []name.Option {
	if o.Spec.PlainHTTP {
		return []name.Option{name.Insecure}
	}
	return nil
}

// Repositories lists the repositories to scan: the configured ones, or the
// catalog's under the prefix.
func (o *OCI) Repositories(ctx context.Context) ([]string, error) {
	if len(o.Spec.Repositories) > 0 {
		return o.Spec.Repositories, nil
	}
	reg, err := name.NewRegistry(o.Spec.Registry, o.nameOpts()...)
	if err != nil {
		return nil, err
	}
	all, err := remote.Catalog(ctx, reg, o.options(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing the catalog of %s (set spec.oci.repositories for a registry without one): %w", o.Spec.Registry, err)
	}
	var out []string
	for _, r := range all {
		if o.Spec.Prefix == "" || r == o.Spec.Prefix || strings.HasPrefix(r, strings.TrimSuffix(o.Spec.Prefix, "/")+"/") {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Tags lists a repository's tags and each one's manifest digest (a HEAD
// each, which costs the registry nothing to answer).
func (o *OCI) Tags(ctx context.Context, repository string) (map[string]string, error) {
	repo, err := name.NewRepository(o.Spec.Registry+"/"+repository, o.nameOpts()...)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(repo, o.options(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", repository, err)
	}
	out := map[string]string{}
	for _, tag := range tags {
		desc, err := remote.Head(repo.Tag(tag), o.options(ctx)...)
		if err != nil {
			return nil, fmt.Errorf("%s:%s: %w", repository, tag, err)
		}
		out[tag] = desc.Digest.String()
	}
	return out, nil
}

// Inspect reads the manifest of repository@digest: a Helm chart (config
// media type application/vnd.cncf.helm.config.v1+json, with its archive
// layer) or ErrNotChart.
func (o *OCI) Inspect(ctx context.Context, repository, tag, digest string) (Found, error) {
	repo, err := name.NewRepository(o.Spec.Registry+"/"+repository, o.nameOpts()...)
	if err != nil {
		return Found{}, err
	}
	desc, err := remote.Get(repo.Digest(digest), o.options(ctx)...)
	if err != nil {
		return Found{}, fmt.Errorf("%s@%s: %w", repository, digest, err)
	}
	if desc.MediaType.IsIndex() {
		return Found{}, ErrNotChart
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		return Found{}, fmt.Errorf("%s@%s: %w", repository, digest, err)
	}
	if m.Config.MediaType != types.MediaType(platformv1.HelmConfigMediaType) {
		return Found{}, ErrNotChart
	}
	for _, l := range m.Layers {
		if l.MediaType == HelmChartLayerMediaType {
			return Found{Repository: repository, Tag: tag, Digest: digest, Layer: l.Digest.String(), Size: l.Size}, nil
		}
	}
	return Found{}, fmt.Errorf("%s@%s: a Helm chart manifest without a %s layer", repository, digest, HelmChartLayerMediaType)
}

// Pull reads the chart archive of f, refusing one over max bytes before
// reading it (the manifest says its size) and while reading it (in case
// the registry lies).
func (o *OCI) Pull(ctx context.Context, f Found, max int64) ([]byte, error) {
	if f.Size > max {
		return nil, &TooLargeError{Size: f.Size, Max: max}
	}
	repo, err := name.NewRepository(o.Spec.Registry+"/"+f.Repository, o.nameOpts()...)
	if err != nil {
		return nil, err
	}
	layer, err := remote.Layer(repo.Digest(f.Layer), o.options(ctx)...)
	if err != nil {
		return nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("pulling %s@%s: %w", f.Repository, f.Digest, err)
	}
	defer rc.Close()
	return readCapped(rc, max)
}

// TooLargeError: a chart over the source's size cap.
type TooLargeError struct{ Size, Max int64 }

func (e *TooLargeError) Error() string {
	if e.Size < 0 {
		return fmt.Sprintf("the chart archive is over the source's cap of %d bytes (spec.maxChartSize)", e.Max)
	}
	return fmt.Sprintf("the chart archive is %d bytes, over the source's cap of %d (spec.maxChartSize)", e.Size, e.Max)
}

func readCapped(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &TooLargeError{Size: -1, Max: max}
	}
	return b, nil
}
