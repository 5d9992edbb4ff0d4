package server

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var pathParam = regexp.MustCompile(`\{([a-zA-Z]+)\}`)

// OpenAPI builds the document from the route table.
func (s *Server) OpenAPI() (*openapi3.T, error) {
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{Title: "Plattr platform API", Version: s.Version,
			Description: "Apps, their history, roles and live events. Authenticate with an API token (Authorization: Bearer) or a browser session."},
		Paths:      openapi3.NewPaths(),
		Components: &openapi3.Components{Schemas: openapi3.Schemas{}, SecuritySchemes: openapi3.SecuritySchemes{}},
	}
	doc.Components.SecuritySchemes["bearer"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewJWTSecurityScheme().WithBearerFormat("plattr token")}
	doc.Components.SecuritySchemes["session"] = &openapi3.SecuritySchemeRef{Value: openapi3.NewCSRFSecurityScheme().WithIn("cookie").WithName("plattr_session")}
	gen := openapi3gen.NewGenerator(openapi3gen.UseAllExportedFields(), openapi3gen.SchemaCustomizer(customize))
	schema := func(v any) (*openapi3.SchemaRef, error) {
		return gen.NewSchemaRefForValue(v, doc.Components.Schemas)
	}
	errRef, err := schema(Error{})
	if err != nil {
		return nil, err
	}
	for _, rt := range s.routes() {
		op := openapi3.NewOperation()
		op.Summary, op.Tags = rt.summary, []string{rt.tag}
		op.OperationID = operationID(rt)
		if rt.action != "" {
			op.Description = "Needs permission to " + string(rt.action) + "."
		}
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			op.AddParameter(openapi3.NewPathParameter(m[1]).WithSchema(openapi3.NewStringSchema()))
		}
		for _, q := range rt.query {
			op.AddParameter(openapi3.NewQueryParameter(q.name).WithDescription(q.description).WithSchema(openapi3.NewStringSchema()))
		}
		if rt.in != nil {
			ref, err := schema(rt.in)
			if err != nil {
				return nil, err
			}
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(ref)}
		}
		resp := openapi3.NewResponse().WithDescription(http.StatusText(rt.success()))
		switch {
		case rt.stream:
			resp.WithContent(openapi3.Content{"text/event-stream": openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())})
		case rt.out != nil:
			ref, err := schema(rt.out)
			if err != nil {
				return nil, err
			}
			resp.WithJSONSchemaRef(ref)
		}
		op.AddResponse(rt.success(), resp)
		if !rt.public {
			op.Security = &openapi3.SecurityRequirements{{"bearer": {}}, {"session": {}}}
			op.AddResponse(http.StatusUnauthorized, openapi3.NewResponse().WithDescription("Not signed in.").WithJSONSchemaRef(errRef))
			op.AddResponse(http.StatusForbidden, openapi3.NewResponse().WithDescription("A role is missing; the message names it.").WithJSONSchemaRef(errRef))
		}
		if rt.handle != nil {
			op.AddResponse(http.StatusBadRequest, openapi3.NewResponse().WithDescription("The request is malformed.").WithJSONSchemaRef(errRef))
		}
		doc.AddOperation(rt.path, rt.method, op)
	}
	return doc, nil
}

// customize describes the Kubernetes types as they are written in JSON.
func customize(_ string, t reflect.Type, _ reflect.StructTag, s *openapi3.Schema) error {
	switch t {
	case reflect.TypeOf(metav1.Time{}), reflect.TypeOf(&metav1.Time{}):
		*s = *openapi3.NewDateTimeSchema()
	case reflect.TypeOf(resource.Quantity{}), reflect.TypeOf(&resource.Quantity{}):
		*s = *openapi3.NewStringSchema()
	case reflect.TypeOf(json.RawMessage{}):
		*s = *openapi3.NewObjectSchema()
	}
	return nil
}

func operationID(rt route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.method))
	for _, part := range strings.FieldsFunc(rt.path, func(r rune) bool { return r == '/' || r == '{' || r == '}' || r == '.' }) {
		if part == "api" || part == "v1" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// openAPIDoc caches the rendered document.
type openAPIDoc struct {
	once sync.Once
	json []byte
	err  error
}

func (s *Server) openAPI(c *call) {
	s.doc.once.Do(func() {
		doc, err := s.OpenAPI()
		if err != nil {
			s.doc.err = err
			return
		}
		s.doc.json, s.doc.err = json.MarshalIndent(doc, "", "  ")
	})
	if s.doc.err != nil {
		http.Error(c.w, s.doc.err.Error(), http.StatusInternalServerError)
		return
	}
	c.w.Header().Set("Content-Type", "application/json")
	_, _ = c.w.Write(s.doc.json)
}
