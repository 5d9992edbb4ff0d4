package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// The document is built from the route table the handler serves, so the
// two cannot drift; this checks the document is valid OpenAPI, holds every
// route, and that every documented operation is served.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	s := &Server{Version: "test"}
	h := s.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /openapi.json: %d %s", rec.Code, rec.Body)
	}
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}
	documented := 0
	for _, rt := range s.Routes() {
		item := doc.Paths.Find(rt.Path)
		if item == nil || item.GetOperation(rt.Method) == nil {
			t.Errorf("%s %s is served but not documented", rt.Method, rt.Path)
			continue
		}
		documented++
	}
	ops := 0
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops++
			// The mux knows the route: an unknown one is a plain 404 or 405.
			req := httptest.NewRequest(method, strings.NewReplacer("{", "", "}", "").Replace(path), nil)
			_, pattern := s.mux.Handler(req)
			if pattern != method+" "+path {
				t.Errorf("%s %s is documented but the mux routes it to %q", method, path, pattern)
			}
		}
	}
	if ops != documented || ops < 30 {
		t.Fatalf("%d documented operations, %d routes", ops, documented)
	}
	// Request bodies are described with their fields.
	body := doc.Paths.Find("/api/v1/apps").Post.RequestBody.Value.Content.Get("application/json").Schema
	raw, _ := json.Marshal(body)
	for _, f := range []string{"namespace", "spec", "imageRef", "executeAt"} {
		if !strings.Contains(string(raw), f) && !refHas(doc, raw, f) {
			t.Errorf("POST /api/v1/apps body schema lacks %q: %s", f, raw)
		}
	}
}

func refHas(doc *openapi3.T, raw []byte, field string) bool {
	all, _ := json.Marshal(doc.Components.Schemas)
	return strings.Contains(string(all), field)
}
