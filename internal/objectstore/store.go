// Package objectstore provisions buckets and per-app access keys on an
// S3-compatible object store. Bucket work uses the S3 API with the platform's
// admin keys, so it works with any S3 store; per-app users need the store's
// own admin API, which is implemented for versitygw (the store the local
// stack and the tests run). Without it every app shares the platform's keys,
// and Store.PerAppUsers says so.
package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/plattr/plattr/internal/metrics"
)

// Config locates the store.
type Config struct {
	Endpoint  string // S3 endpoint URL, e.g. http://127.0.0.1:7070 (path-style)
	Region    string
	AccessKey string // the platform's admin keys
	SecretKey string
	// AdminEndpoint is versitygw's admin API (create-user, create-bucket
	// with an owner). Empty: the store has no per-app users.
	AdminEndpoint string
	// Timeout bounds every call to the store. Zero: DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout bounds a call when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// ErrConflict means a bucket exists that belongs to someone else.
var ErrConflict = errors.New("bucket belongs to another owner")

// Store talks to one object store.
type Store struct {
	cfg   Config
	s3    *minio.Client
	admin *adminClient // nil without per-app users
	// owners creates the ownership records' bucket on first use (owners.go).
	owners ownersBucket
}

// New connects lazily: nothing is sent until the first call.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("S3 endpoint %q: want http(s)://host:port", cfg.Endpoint)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	tr, err := minio.DefaultTransport(u.Scheme == "https")
	if err != nil {
		return nil, err
	}
	tr.ResponseHeaderTimeout = cfg.Timeout
	// minio's client has no overall timeout of its own: the transport
	// bounds each request, body included, so a store that stalls fails the
	// call (and the reconcile retries) instead of hanging it.
	bounded := &deadlineTransport{base: tr, timeout: cfg.Timeout}
	httpClient := &http.Client{Timeout: cfg.Timeout, Transport: tr}
	s3, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
		Transport:    bounded,
		MaxRetries:   1, // the reconciler retries with backoff; fail fast here
	})
	if err != nil {
		return nil, err
	}
	st := &Store{cfg: cfg, s3: s3}
	if cfg.AdminEndpoint != "" {
		au, err := url.Parse(cfg.AdminEndpoint)
		if err != nil || au.Host == "" {
			return nil, fmt.Errorf("S3 admin endpoint %q: want http(s)://host:port", cfg.AdminEndpoint)
		}
		st.admin = &adminClient{endpoint: strings.TrimRight(cfg.AdminEndpoint, "/"), region: cfg.Region,
			access: cfg.AccessKey, secret: cfg.SecretKey, http: httpClient}
	}
	return st, nil
}

// Endpoint is the S3 endpoint apps are given.
func (s *Store) Endpoint() string { return s.cfg.Endpoint }

// Region is the region apps are given.
func (s *Store) Region() string { return s.cfg.Region }

// PerAppUsers reports whether apps get keys of their own.
func (s *Store) PerAppUsers() bool { return s.admin != nil }

// SharedKeys are the platform's keys, handed to apps when the store has no
// per-app users.
func (s *Store) SharedKeys() (access, secret string) { return s.cfg.AccessKey, s.cfg.SecretKey }

// Ping checks the store answers and accepts the admin keys.
func (s *Store) Ping(ctx context.Context) error {
	defer metrics.TimeCall(metrics.BackendObjectStore, "ping")()
	_, err := s.s3.ListBuckets(ctx)
	return s.wrap(err)
}

// UnavailableError says the store could not be reached or refused the
// platform's keys; the reconciler retries.
type UnavailableError struct {
	Endpoint string
	Err      error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("object store at %s: %v", e.Endpoint, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// HTTPStatusCode is the store's HTTP answer, 0 when there was none (a
// transport failure). minio-go's ErrorResponse and the admin API's error
// carry it as a field, which capability.IsOutage cannot see: without this,
// a 503 from the store counted as the app's own failed attempt.
func (e *UnavailableError) HTTPStatusCode() int {
	var s3Err minio.ErrorResponse
	if errors.As(e.Err, &s3Err) {
		return s3Err.StatusCode
	}
	var adm *adminError
	if errors.As(e.Err, &adm) {
		return adm.status
	}
	return 0
}

// wrap marks transport failures and server errors as UnavailableError.
func (s *Store) wrap(err error) error {
	if err == nil || errors.Is(err, ErrConflict) {
		return err
	}
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return err
	}
	return &UnavailableError{Endpoint: s.cfg.Endpoint, Err: err}
}

// deadlineTransport gives every request a deadline of timeout from its
// start, covering the wait for headers and the reading of the body, as
// http.Client.Timeout does for clients that have one. The deadline is
// released when the body is closed.
type deadlineTransport struct {
	base    http.RoundTripper
	timeout time.Duration
}

func (d *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), d.timeout)
	resp, err := d.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
