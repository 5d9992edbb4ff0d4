package discovery

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// maxIndex bounds index.yaml (large public indexes are tens of MiB).
const maxIndex = 64 << 20

// HelmRepo scans a classic Helm repository.
type HelmRepo struct {
	Spec   platformv1.ChartSourceHelm
	Creds  Credentials
	Client *http.Client
}

type indexFile struct {
	Entries map[string][]struct {
		Name       string   `json:"name"`
		Version    string   `json:"version"`
		AppVersion string   `json:"appVersion"`
		Digest     string   `json:"digest"`
		URLs       []string `json:"urls"`
	} `json:"entries"`
}

func (h *HelmRepo) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return &http.Client{Timeout: time.Minute}
}

// get fetches u, sending the credentials only to the repository's own host
// (an index may point its archives anywhere).
func (h *HelmRepo) get(ctx context.Context, u string, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	base, _ := url.Parse(h.Spec.URL)
	if (h.Creds.Username != "" || h.Creds.Password != "") && base != nil && req.URL.Host == base.Host && req.URL.Scheme == base.Scheme {
		req.SetBasicAuth(h.Creds.Username, h.Creds.Password)
	}
	return h.client().Do(req)
}

// Index reads index.yaml unless its ETag is still etag (then notModified),
// returning every chart version it lists with the new ETag.
func (h *HelmRepo) Index(ctx context.Context, etag string) (found []Found, newETag string, notModified bool, err error) {
	u := strings.TrimSuffix(h.Spec.URL, "/") + "/index.yaml"
	header := http.Header{}
	if etag != "" {
		header.Set("If-None-Match", etag)
	}
	resp, err := h.get(ctx, u, header)
	if err != nil {
		return nil, "", false, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		return nil, etag, true, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", false, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := readCapped(resp.Body, maxIndex)
	if err != nil {
		return nil, "", false, fmt.Errorf("GET %s: %w", u, err)
	}
	var idx indexFile
	if err := yaml.Unmarshal(b, &idx); err != nil {
		return nil, "", false, fmt.Errorf("%s: %w", u, err)
	}
	base, _ := url.Parse(strings.TrimSuffix(h.Spec.URL, "/") + "/")
	names := make([]string, 0, len(idx.Entries))
	for n := range idx.Entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, e := range idx.Entries[n] {
			if len(e.URLs) == 0 || e.Version == "" {
				continue
			}
			ref, err := url.Parse(e.URLs[0])
			if err != nil {
				continue
			}
			digest := e.Digest
			if digest != "" && !strings.HasPrefix(digest, "sha256:") {
				digest = "sha256:" + digest
			}
			found = append(found, Found{Repository: n, Tag: e.Version, Digest: digest, URL: base.ResolveReference(ref).String(), AppVersion: e.AppVersion})
		}
	}
	return found, resp.Header.Get("ETag"), false, nil
}

// Pull reads the archive of f, capped at max bytes.
func (h *HelmRepo) Pull(ctx context.Context, f Found, max int64) ([]byte, error) {
	resp, err := h.get(ctx, f.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", f.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", f.URL, resp.Status)
	}
	if resp.ContentLength > max {
		return nil, &TooLargeError{Size: resp.ContentLength, Max: max}
	}
	return readCapped(resp.Body, max)
}
