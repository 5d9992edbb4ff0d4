package crds_test

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/plattr/plattr/config/crd"
	"github.com/plattr/plattr/internal/testenv"
)

// undescribed returns the path of every property under s whose description
// is empty: nested properties, list items, map values and the branches of
// allOf/anyOf/oneOf. kubectl explain prints "<no description>" for each.
func undescribed(path string, s *apiextensionsv1.JSONSchemaProps) []string {
	if s == nil {
		return nil
	}
	var out []string
	if strings.TrimSpace(s.Description) == "" {
		out = append(out, path)
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := s.Properties[n]
		out = append(out, undescribed(path+"."+n, &p)...)
	}
	if s.Items != nil {
		out = append(out, itemsUndescribed(path+"[]", s.Items.Schema)...)
		for i := range s.Items.JSONSchemas {
			out = append(out, itemsUndescribed(path+"[]", &s.Items.JSONSchemas[i])...)
		}
	}
	if s.AdditionalProperties != nil {
		out = append(out, itemsUndescribed(path+"{}", s.AdditionalProperties.Schema)...)
	}
	for _, branch := range [][]apiextensionsv1.JSONSchemaProps{s.AllOf, s.AnyOf, s.OneOf} {
		for i := range branch {
			out = append(out, itemsUndescribed(path, &branch[i])...)
		}
	}
	return out
}

// itemsUndescribed walks a schema that describes the elements of a list or
// map (or a branch of a combinator): kubectl explain shows its parent's
// description for it, so only its own properties need one. An element
// that is a scalar (a string in a list of origins) has nothing below it.
func itemsUndescribed(path string, s *apiextensionsv1.JSONSchemaProps) []string {
	if s == nil {
		return nil
	}
	saved := s.Description
	s.Description = "element"
	defer func() { s.Description = saved }()
	return undescribed(path, s)
}

// crdUndescribed checks every served version of one CRD. The root
// metadata is left out: the API server replaces it with ObjectMeta's own
// documented schema when it publishes the CRD's OpenAPI.
func crdUndescribed(t *testing.T, file string, b []byte) []string {
	t.Helper()
	var c apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(c.Spec.Versions) == 0 {
		t.Fatalf("%s: no versions", file)
	}
	var out []string
	for _, v := range c.Spec.Versions {
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			t.Fatalf("%s: version %s has no openAPIV3Schema", file, v.Name)
		}
		root := *v.Schema.OpenAPIV3Schema
		root.Properties = maps.Clone(root.Properties)
		delete(root.Properties, "metadata")
		out = append(out, undescribed(c.Spec.Names.Kind+"("+v.Name+")", &root)...)
	}
	return out
}

// TestEveryCRDFieldHasADescription walks the CRDs the binaries embed and the
// chart's copies (what `helm install` applies): every property needs a doc
// comment on its Go field in api/v1alpha1, then `make generate`.
func TestEveryCRDFieldHasADescription(t *testing.T) {
	files, err := fs.Glob(crd.Bases, "bases/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	chart, err := filepath.Glob(filepath.Join(root, "charts", "plattr", "files", "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 || len(chart) != len(files) {
		t.Fatalf("want the same CRDs (at least 3) embedded and in the chart; got %d embedded, %d in the chart", len(files), len(chart))
	}
	check := func(name string, b []byte) {
		for _, p := range crdUndescribed(t, name, b) {
			t.Errorf("%s: %s has no description: add a doc comment to its field in api/v1alpha1 and run make generate", name, p)
		}
	}
	for _, f := range files {
		b, err := crd.Bases.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check("config/crd/"+f, b)
	}
	for _, f := range chart {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		check(rel, b)
	}
}

// TestUndescribedFindsEveryKindOfNesting proves the walk reaches what it
// must: a nested property, a list item's property, a map value's property
// and a combinator branch, and names each by its path.
func TestUndescribedFindsEveryKindOfNesting(t *testing.T) {
	b := []byte(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec:
  group: example.com
  names: {kind: Thing, plural: things}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        description: A thing.
        type: object
        properties:
          metadata: {type: object}
          spec:
            description: The spec.
            type: object
            properties:
              enabled: {type: boolean}
              described: {type: string, description: Fine.}
              list:
                description: A list.
                type: array
                items:
                  type: object
                  properties:
                    name: {type: string}
              scalars:
                description: Strings need nothing per element.
                type: array
                items: {type: string}
              labels:
                description: A map.
                type: object
                additionalProperties:
                  type: object
                  properties:
                    value: {type: string}
              either:
                description: A combinator.
                anyOf:
                - type: object
                  properties:
                    hidden: {type: string}
  - name: v2
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
`)
	got := crdUndescribed(t, "synthetic", b)
	want := []string{
		"Thing(v1).spec.either.hidden",
		"Thing(v1).spec.enabled",
		"Thing(v1).spec.labels{}.value",
		"Thing(v1).spec.list[].name",
		"Thing(v2)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("undescribed paths:\n got %q\nwant %q", got, want)
	}
}
