// Package server is the platform API's HTTP surface: one route table from
// which both the handlers and the OpenAPI document are built, so the two
// cannot drift. Every route but health, metrics, the document and the
// sign-in flow needs a principal, and names the authz.Action it checks.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/costs"
	"github.com/plattr/plattr/internal/platformapi/mirror"
	"github.com/plattr/plattr/internal/platformapi/portal"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/platformapi/stream"
)

// Server serves the platform API.
type Server struct {
	Store *store.Store
	Auth  *authn.Authenticator
	// Cache reads Applications and Tenants from the informers.
	Cache client.Reader
	// Catalog lists apps without copying them.
	Catalog *mirror.Catalog
	// Kube writes to the cluster (dry runs that validate a spec).
	Kube client.Client
	Hub  *stream.Hub
	// Pods reads pod logs through the Kubernetes API.
	Pods kubernetes.Interface
	// Discovery reaches the API server for its version and /readyz.
	Discovery discovery.DiscoveryInterface
	// ClusterName names the cluster in /api/v1/clusters (CLUSTER_NAME).
	ClusterName string
	// Prices price the cost summary.
	Prices costs.Prices
	// Ready reports whether the server can serve (database, cache, hub).
	Ready    func(context.Context) error
	Registry *prometheus.Registry
	Version  string
	// TokenMaxTTL caps an API token's lifetime (TOKEN_MAX_TTL); 0: no cap,
	// and "never" is allowed.
	TokenMaxTTL time.Duration
	// Log receives the detail of internal errors; the caller gets a
	// request id to quote.
	Log logr.Logger
	// PublicURL is the portal's address (PUBLIC_URL), for links back to
	// it (the Backstage export).
	PublicURL string
	// TenantsPerUser caps the tenants a user who is not a site admin
	// creates (TENANTS_PER_USER; 0: 3).
	TenantsPerUser int

	requests *prometheus.HistogramVec
	doc      openAPIDoc
	mux      *http.ServeMux // what Handler serves; tests ask it for patterns
}

// Error is an API error: its status and a message that says what to do.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// Fields names every field the cluster refused, with its message
	// (field path → message), for forms to show next to each input.
	Fields map[string]string `json:"fields,omitempty"`
	// RequestID is set on internal errors: the server's log has the detail.
	RequestID string `json:"requestId,omitempty"`
}

func (e *Error) Error() string { return e.Message }

func badRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf(format, args...)}
}

// Handler builds the HTTP handler from the route table.
func (s *Server) Handler() http.Handler {
	s.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "plattr_api_request_duration_seconds",
		Help:    "Platform API requests by route and status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "code"})
	if s.Registry != nil {
		s.Registry.MustRegister(s.requests)
	}
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	if err := portal.Register(s.mux); err != nil {
		panic("the embedded portal does not parse: " + err.Error()) // a build defect, caught by every test
	}
	// Cookie-authenticated browsers may not be made to change things from
	// another site; token clients (no browser headers) pass.
	return http.NewCrossOriginProtection().Handler(s.mux)
}

type call struct {
	w http.ResponseWriter
	r *http.Request
	p *authz.Principal
}

func (c *call) ctx() context.Context    { return c.r.Context() }
func (c *call) path(name string) string { return c.r.PathValue(name) }

// decode reads a JSON body into v, refusing unknown fields so a typo is
// an error, not a silently ignored setting.
func (c *call) decode(v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("", "the request body is not valid JSON for this endpoint: %v", err)
	}
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	code int
	id   string // the request's id, in X-Request-Id and in 500 answers
	r    *http.Request
}

func (s *statusRecorder) WriteHeader(code int) { s.code = code; s.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach the connection (the event
// stream's write deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK, id: requestID(), r: r}
		w.Header().Set("X-Request-Id", rec.id)
		defer func() {
			if rt.stream {
				return // long-lived: not a latency
			}
			s.requests.WithLabelValues(rt.method+" "+rt.path, fmt.Sprint(rec.code)).Observe(time.Since(start).Seconds())
		}()
		c := &call{w: rec, r: r}
		if !rt.public {
			principal := s.Auth.Principal
			if rt.principal != nil {
				principal = rt.principal // a credential only this route takes
			}
			p, err := principal(r)
			if err != nil {
				s.fail(rec, err)
				return
			}
			c.p = p
			if p.CI != nil && !rt.ci {
				// A CI job deploys and reads back its apps and tasks: nothing
				// else, whatever the action.
				s.fail(rec, &authz.Denied{Action: authz.Action("call " + rt.method + " " + rt.path), Need: []string{"role of a user (a CI job may only deploy its apps: POST /api/v1/apps/{namespace}/{name}/deploy)", authz.RoleSiteAdmin}})
				return
			}
		}
		if rt.raw != nil {
			rt.raw(c)
			return
		}
		out, err := rt.handle(c)
		if err != nil {
			s.fail(rec, err)
			return
		}
		writeJSON(rec, rt.success(), out)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fail maps an error to its status: 401 unauthenticated, 403 a missing
// role (named), 404, 409, 422 a spec the cluster refuses (its message
// names the field). Anything else is a 500 whose detail (a database's or
// the cluster's error, which may name hosts, tables or objects) goes to
// the log only; the caller gets the request id to quote.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var (
		apiErr *Error
		denied *authz.Denied
	)
	switch {
	case errors.As(err, &apiErr):
	case errors.Is(err, authn.ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="plattr"`)
		apiErr = &Error{Status: http.StatusUnauthorized, Message: err.Error()}
	case errors.As(err, &denied):
		apiErr = &Error{Status: http.StatusForbidden, Message: denied.Error()}
	case errors.Is(err, store.ErrNotFound):
		apiErr = &Error{Status: http.StatusNotFound, Message: "not found"}
	case apierrors.IsInvalid(err):
		apiErr = &Error{Status: http.StatusUnprocessableEntity, Message: invalidMessage(err), Fields: invalidFields(err)}
	case apierrors.IsNotFound(err):
		apiErr = &Error{Status: http.StatusNotFound, Message: err.Error()}
	case apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err):
		apiErr = &Error{Status: http.StatusConflict, Message: err.Error()}
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		// The API's own ServiceAccount was refused: not the caller's doing.
		fallthrough
	default:
		id, route := "", ""
		if rec, ok := w.(*statusRecorder); ok {
			id, route = rec.id, rec.r.Method+" "+rec.r.URL.Path
		}
		s.Log.Error(err, "internal error", "requestId", id, "request", route)
		apiErr = &Error{Status: http.StatusInternalServerError, RequestID: id,
			Message: "internal error: the server could not complete this request; it is logged under request id " + id}
	}
	writeJSON(w, apiErr.Status, apiErr)
}

// invalidMessage keeps the API server's field-by-field causes, which name
// each field and what is wrong with it.
func invalidMessage(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) && se.Status().Details != nil && len(se.Status().Details.Causes) > 0 {
		var parts []string
		for _, c := range se.Status().Details.Causes {
			parts = append(parts, strings.TrimSpace(c.Field+": "+c.Message))
		}
		return "the cluster refuses this spec: " + strings.Join(parts, "; ")
	}
	return "the cluster refuses this spec: " + err.Error()
}

// invalidFields maps each refused field to its message.
func invalidFields(err error) map[string]string {
	var se apierrors.APIStatus
	if !errors.As(err, &se) || se.Status().Details == nil {
		return nil
	}
	out := map[string]string{}
	for _, c := range se.Status().Details.Causes {
		if c.Field != "" {
			out[c.Field] = c.Message
		}
	}
	return out
}

// health and readiness.
func (s *Server) healthz(c *call) { c.w.WriteHeader(http.StatusOK); _, _ = c.w.Write([]byte("ok\n")) }

func (s *Server) readyz(c *call) {
	if s.Ready != nil {
		if err := s.Ready(c.ctx()); err != nil {
			// Which part is not ready, never its error text (anyone may ask).
			http.Error(c.w, "not ready: "+readyPart(err), http.StatusServiceUnavailable)
			return
		}
	}
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write([]byte("ok\n"))
}

// MetricsHandler serves /metrics. It is not on the API's address: Run
// serves it on METRICS_ADDR, which only the cluster's scraper reaches.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	if s.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	}
	return mux
}

// NotReady names the part that is not ready (database, cluster cache,
// change feed); Ready wraps the cause, which only the log sees.
type NotReady struct {
	Part string
	Err  error
}

func (e *NotReady) Error() string { return e.Part + ": " + e.Err.Error() }
func (e *NotReady) Unwrap() error { return e.Err }

func readyPart(err error) string {
	var nr *NotReady
	if errors.As(err, &nr) {
		return nr.Part
	}
	return "starting"
}
