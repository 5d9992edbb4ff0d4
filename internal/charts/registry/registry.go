// Package registry is the local stack's OCI registry: go-containerregistry's
// registry (pkg/registry) with its blobs on disk (its disk blob handler)
// and its manifests — which that registry keeps in memory only — journaled
// to disk and replayed at start, so charts pushed with `helm push` survive
// `plattr dev down` / `up`.
package registry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
)

// maxManifest bounds a manifest body held for the journal; OCI registries
// commonly refuse manifests over 4 MiB.
const maxManifest = 4 << 20

// entry is one journaled manifest write.
type entry struct {
	Method      string `json:"method"` // PUT or DELETE
	Path        string `json:"path"`   // /v2/<repo>/manifests/<ref>
	ContentType string `json:"contentType,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// Registry is the persistent registry's handler.
type Registry struct {
	inner   http.Handler
	mu      sync.Mutex
	journal *os.File
}

// New opens (or makes) the registry whose state is in dir: dir/blobs and
// dir/manifests.jsonl, replaying the journal into the in-memory manifests.
func New(dir string) (*Registry, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
		return nil, err
	}
	r := &Registry{inner: ggcr.New(ggcr.WithBlobHandler(ggcr.NewDiskBlobHandler(filepath.Join(dir, "blobs"))),
		ggcr.Logger(log.New(io.Discard, "", 0)))}
	path := filepath.Join(dir, "manifests.jsonl")
	if err := r.replay(path); err != nil {
		return nil, fmt.Errorf("replaying %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	r.journal = f
	return r, nil
}

func (r *Registry) replay(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 2*maxManifest)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// A line cut short by a crash mid-write is the last one.
			continue
		}
		req := httptest.NewRequest(e.Method, e.Path, bytes.NewReader(e.Body))
		if e.ContentType != "" {
			req.Header.Set("Content-Type", e.ContentType)
		}
		rec := httptest.NewRecorder()
		r.inner.ServeHTTP(rec, req)
	}
	return sc.Err()
}

// isManifest: a request for /v2/<repo>/manifests/<ref>.
func isManifest(p string) bool {
	elem := strings.Split(p, "/")
	return len(elem) >= 5 && elem[1] == "v2" && elem[len(elem)-2] == "manifests"
}

// statusRecorder keeps the status the registry answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// ServeHTTP serves the registry, journaling each manifest written or
// deleted once the registry has accepted it.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !isManifest(req.URL.Path) || (req.Method != http.MethodPut && req.Method != http.MethodDelete) {
		r.inner.ServeHTTP(w, req)
		return
	}
	var body []byte
	if req.Method == http.MethodPut {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxManifest+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(b) > maxManifest {
			http.Error(w, "manifest over 4 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	// One write at a time, so the journal's order is the registry's.
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	r.inner.ServeHTTP(rec, req)
	if rec.status >= 300 {
		return
	}
	line, _ := json.Marshal(entry{Method: req.Method, Path: req.URL.Path, ContentType: req.Header.Get("Content-Type"), Body: body})
	if _, err := r.journal.Write(append(line, '\n')); err != nil {
		log.Printf("registry: journaling %s %s: %v (it is lost at the next restart)", req.Method, req.URL.Path, err)
	}
}

// Close closes the journal.
func (r *Registry) Close() error { return r.journal.Close() }

// Serve serves the registry in dir on addr (127.0.0.1:port) until ctx
// ends.
func Serve(ctx context.Context, addr, dir string) error {
	reg, err := New(dir)
	if err != nil {
		return err
	}
	defer reg.Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: reg, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
