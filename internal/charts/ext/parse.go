package ext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The files read, by layout.
const (
	RootUISchema    = "values.ui.json"
	RootActions     = "actions.schema.json"
	RootFeatures    = "features.json"
	PlatzDir        = "platz/"
	PlatzUISchema   = "platz/values-ui.yaml"
	PlatzActions    = "platz/actions.yaml"
	PlatzFeatures   = "platz/features.yaml"
	PlatzResources  = "platz/resources.yaml"
	maxExtFileBytes = 1 << 20
)

// Files are the names Parse reads, for a loader that keeps only them.
var Files = []string{RootUISchema, RootActions, RootFeatures, PlatzUISchema, PlatzActions, PlatzFeatures, PlatzResources}

// Wanted: a chart file (path relative to the chart root) Parse reads, or
// any file of platz/ (whose presence picks the layout).
func Wanted(name string) bool {
	return slices.Contains(Files, name) || strings.HasPrefix(name, PlatzDir)
}

// Parse reads the extensions from a chart's files (paths relative to the
// chart root). The platz/ layout is used when any file is under platz/.
// The error names the file that does not parse and why.
func Parse(files map[string][]byte) (*Extensions, error) {
	platz := false
	for name := range files {
		if strings.HasPrefix(name, PlatzDir) {
			platz = true
		}
	}
	e := &Extensions{Layout: "root"}
	ui, actions, features := RootUISchema, RootActions, RootFeatures
	if platz {
		e.Layout = "platz"
		ui, actions, features = PlatzUISchema, PlatzActions, PlatzFeatures
	}
	if b, ok := files[ui]; ok {
		s, err := decodeFile(ui, b, parseUISchema)
		if err != nil {
			return nil, err
		}
		e.UISchema = s
	}
	if b, ok := files[actions]; ok {
		a, err := decodeFile(actions, b, parseActions)
		if err != nil {
			return nil, err
		}
		e.Actions, e.ActionsVersion = a.list, a.version
	}
	if b, ok := files[features]; ok {
		f, err := decodeFile(features, b, parseFeatures)
		if err != nil {
			return nil, err
		}
		e.Features = f
	}
	if b, ok := files[PlatzResources]; ok && platz {
		r, err := decodeFile(PlatzResources, b, parseResources)
		if err != nil {
			return nil, err
		}
		e.ResourceTypes = *r
	}
	return e, nil
}

// decodeFile turns a JSON or YAML file into JSON and parses it, naming the
// file in the error.
func decodeFile[T any](name string, b []byte, parse func(json.RawMessage) (*T, error)) (*T, error) {
	if len(b) > maxExtFileBytes {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d an extension file may have", name, len(b), maxExtFileBytes)
	}
	raw := b
	if ext := path.Ext(name); ext == ".yaml" || ext == ".yml" {
		j, err := yaml.YAMLToJSON(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		raw = j
	}
	v, err := parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return v, nil
}

// strict decodes raw into v, refusing unknown fields when strict.
func strict(raw json.RawMessage, v any, deny bool) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	if deny {
		d.DisallowUnknownFields()
	}
	if err := d.Decode(v); err != nil {
		return err
	}
	return nil
}

// header is the apiVersion/kind every versioned file starts with.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// version picks the file's version, newest first: its apiVersion when it
// has one (which must be one this parser reads, of the right kind), else
// v0. known lists the versioned ones, newest first.
func version(raw json.RawMessage, kind string, known ...string) (string, error) {
	var h header
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		if err := json.Unmarshal(raw, &h); err != nil {
			return "", err
		}
	}
	if h.APIVersion == "" {
		return V0, nil
	}
	if !slices.Contains(known, h.APIVersion) {
		return "", fmt.Errorf("apiVersion %q is not one Plattr reads: use %s, or no apiVersion for v0", h.APIVersion, strings.Join(known, " or "))
	}
	if h.Kind != kind {
		return "", fmt.Errorf("kind %q: a %s file has kind %s", h.Kind, h.APIVersion, kind)
	}
	return h.APIVersion, nil
}
