package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
)

// An internal error reaches the caller as a generic message with a request
// id; its detail (which may name hosts, tables or objects) reaches only
// the log, under that id. A 4xx keeps its message and field.
func TestInternalErrorsStayInTheLog(t *testing.T) {
	var logged strings.Builder
	s := &Server{Log: funcr.New(func(prefix, args string) { logged.WriteString(args) }, funcr.Options{})}
	secret := `failed to connect to host=db-primary.internal user=plattr_api: relation "plattr_api.api_tokens" does not exist`
	rec := httptest.NewRecorder()
	sr := &statusRecorder{ResponseWriter: rec, code: 200, id: "abc123", r: httptest.NewRequest("GET", "/api/v1/tokens", nil)}
	s.fail(sr, errors.New(secret))
	body := rec.Body.String()
	if rec.Code != http.StatusInternalServerError || strings.Contains(body, "db-primary") || strings.Contains(body, "api_tokens") ||
		!strings.Contains(body, `"requestId":"abc123"`) {
		t.Fatalf("HTTP %d: %s", rec.Code, body)
	}
	if !strings.Contains(logged.String(), "db-primary") || !strings.Contains(logged.String(), "abc123") {
		t.Fatalf("the log lacks the detail or the id: %s", logged.String())
	}

	rec = httptest.NewRecorder()
	s.fail(&statusRecorder{ResponseWriter: rec, code: 200, id: "x", r: httptest.NewRequest("POST", "/", nil)},
		badRequest("expiresIn", "expiresIn=%q: want a duration", "soon"))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field":"expiresIn"`) || !strings.Contains(rec.Body.String(), "soon") {
		t.Fatalf("a 4xx: HTTP %d %s", rec.Code, rec.Body)
	}
}
