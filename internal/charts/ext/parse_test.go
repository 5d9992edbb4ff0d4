package ext

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The fixtures are Plattr's own, written from the crate's types at
// chart-ext v0.7.1 (src/ui_schema.rs, actions/, features/,
// resource_types/), not copies of its test charts.

const uiV0 = `{
  "inputs": [
    {"id": "replicas", "type": "number", "label": "Replicas", "minimum": 1, "maximum": 5, "step": 1, "initialValue": 1},
    {"id": "tier", "type": "RadioSelect", "label": "Tier", "required": true,
     "options": [{"value": "small", "label": "Small"}, {"value": "large"}]},
    {"id": "debug", "type": "Checkbox", "label": "Debug"},
    {"id": "debugLevel", "type": "text", "label": "Level", "showIfAll": [{"field": "debug", "value": true}]},
    {"id": "token", "type": "text", "label": "API token", "sensitive": true, "required": true},
    {"id": "hosts", "type": "array", "itemType": "text", "label": "Extra hosts"},
    {"id": "window", "type": "DaysAndHour", "label": "Maintenance window"}
  ],
  "outputs": {
    "values": [
      {"path": ["replicaCount"], "value": {"FieldValue": {"input": "replicas"}}},
      {"path": ["config", "tier"], "value": {"FieldValue": {"input": "tier"}}},
      {"path": ["config", "log", "level"], "value": {"FieldValue": {"input": "debugLevel"}}},
      {"path": ["extraHosts"], "value": {"FieldValue": {"input": "hosts"}}}
    ],
    "secrets": {
      "api-credentials": {"TOKEN": {"FieldValue": {"input": "token"}}}
    }
  }
}`

const uiV1beta1 = `apiVersion: platz.io/v1beta1
kind: ValuesUi
inputs:
  - id: name
    type: text
    label: Name
    required: true
  - id: mode
    type: radioselect
    label: Mode
    options: [{value: a}, {value: b}]
    showIf: {"==": [{"var": "name"}, "special"]}
outputs:
  values:
    - path: [app, "[+]", name]
      value: {FieldValue: {input: name}}
    - path: [app, "[=]", mode]
      value: {FieldValue: {input: mode}}
`

const featuresV0 = `{"standard_ingress": true, "cardinality": "OnePerCluster",
  "status": {"endpoint": "standard_ingress", "path": "/status", "refresh_interval_secs": 15},
  "node_selector_paths": [["worker", "nodeSelector"]], "tolerations_paths": [["worker", "tolerations"]]}`

const featuresV1beta1 = `apiVersion: platz.io/v1beta1
kind: Features
spec:
  standard_ingress: false
  reinstall_dependencies: false
`

const featuresV1beta2 = `apiVersion: platz.io/v1beta2
kind: Features
spec:
  ingress: {enabled: true, hostname_format: Name}
  display:
    name: {InputField: {name: name}}
    icon: {font_awesome: database}
`

const actionsV0 = `{"schema_version": 1, "actions": [
  {"id": "flush", "allowed_role": "Maintainer", "allowed_on_statuses": ["Running"], "endpoint": "standard_ingress",
   "path": "/actions/flush", "method": "POST", "title": "Flush", "description": "Empties the cache", "dangerous": true,
   "ui_schema": {"inputs": [{"id": "keep", "type": "number", "label": "Keep"}], "outputs": {"values": [{"path": ["keep"], "value": {"FieldValue": {"input": "keep"}}}]}}}
]}`

const actionsV1beta1 = `- apiVersion: platz.io/v1beta1
  kind: Action
  spec:
    id: restart
    allowed_role: Owner
    endpoint: standard_ingress
    path: /restart
    method: PUT
    title: Restart
    description: Restarts the workers
`

const resourcesV1beta1 = `- apiVersion: platz.io/v1beta1
  kind: ResourceType
  key: bucket
  spec:
    name_singular: Bucket
    name_plural: Buckets
    fontawesome_icon: bucket
    values_ui:
      inputs: [{id: size, type: number, label: Size}]
      outputs: {values: []}
    lifecycle:
      create: {allowed_role: Owner, target: {endpoint: standard_ingress, path: /buckets, method: POST}}
`

func TestParseEveryVersionAndLayout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string][]byte
		check  func(t *testing.T, e *Extensions)
		format string
	}{
		{
			name:   "root files, v0",
			files:  map[string][]byte{RootUISchema: []byte(uiV0), RootFeatures: []byte(featuresV0), RootActions: []byte(actionsV0)},
			format: "root (values-ui v0, actions v0, features v0)",
			check: func(t *testing.T, e *Extensions) {
				if len(e.UISchema.Inputs) != 7 || e.UISchema.Inputs[5].Type != Text || !e.UISchema.Inputs[5].Array {
					t.Errorf("inputs = %+v", e.UISchema.Inputs)
				}
				if in := e.UISchema.Input("token"); in == nil || !in.Sensitive || !in.Required {
					t.Errorf("token = %+v", in)
				}
				if got := e.UISchema.Outputs.Secrets["api-credentials"]["TOKEN"]; got != (Ref{Input: "token"}) {
					t.Errorf("secret output = %+v", got)
				}
				f := e.Features
				if !f.Ingress.Enabled || f.Cardinality != OnePer || !f.ReinstallDependencies || f.Status.RefreshIntervalSecs != 15 ||
					!reflect.DeepEqual(f.NodeSelectorPaths, [][]string{{"worker", "nodeSelector"}}) {
					t.Errorf("features = %+v", f)
				}
				if len(e.Actions) != 1 || e.Actions[0].Method != "POST" || !e.Actions[0].Dangerous || e.Actions[0].UISchema.Input("keep") == nil {
					t.Errorf("actions = %+v", e.Actions)
				}
			},
		},
		{
			name: "platz folder, v1beta1, with resources; root files beside it are ignored",
			files: map[string][]byte{PlatzUISchema: []byte(uiV1beta1), PlatzFeatures: []byte(featuresV1beta1), PlatzActions: []byte(actionsV1beta1),
				PlatzResources: []byte(resourcesV1beta1), RootUISchema: []byte("not json")},
			format: "platz (values-ui platz.io/v1beta1, actions platz.io/v1beta1, features platz.io/v1beta1)",
			check: func(t *testing.T, e *Extensions) {
				if e.UISchema.Input("mode").Type != RadioSelect {
					t.Errorf("a type is read case-insensitively, as the crate does: %+v", e.UISchema.Input("mode"))
				}
				if e.Features.Ingress.Enabled || e.Features.ReinstallDependencies || e.Features.Cardinality != Many {
					t.Errorf("features = %+v", e.Features)
				}
				if e.Actions[0].ID != "restart" || e.Actions[0].AllowedRole != "Owner" {
					t.Errorf("actions = %+v", e.Actions)
				}
				if len(e.ResourceTypes) != 1 || e.ResourceTypes[0].Lifecycle["create"].Method != "POST" || e.ResourceTypes[0].ValuesUI.Input("size") == nil {
					t.Errorf("resource types = %+v", e.ResourceTypes)
				}
			},
		},
		{
			name:   "platz folder, features v1beta2",
			files:  map[string][]byte{PlatzFeatures: []byte(featuresV1beta2)},
			format: "platz (features platz.io/v1beta2)",
			check: func(t *testing.T, e *Extensions) {
				if !e.Features.Ingress.Enabled || e.Features.Ingress.HostnameFormat != FormatN || e.Features.Display.Name != "input:name" || e.Features.Display.Icon != "database" {
					t.Errorf("features = %+v", e.Features)
				}
				if e.UISchema != nil {
					t.Error("no values UI file: no schema")
				}
			},
		},
		{name: "no extension files", files: map[string][]byte{}, format: "", check: func(t *testing.T, e *Extensions) {
			if e.UISchema != nil || e.Features != nil || e.Actions != nil {
				t.Errorf("got %+v", e)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.files)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Format(); got != tc.format {
				t.Errorf("Format() = %q, want %q", got, tc.format)
			}
			tc.check(t, e)
			// The normalized form survives the trip through ChartVersion's status.
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var back Extensions
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, e) {
				t.Errorf("round trip: %v\n got %+v\nwant %+v", err, &back, e)
			}
		})
	}
}

func TestParseErrorsNameTheFileAndField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  []string
	}{
		{"syntax", map[string][]byte{RootUISchema: []byte(`{"inputs": [`)}, []string{"values.ui.json:"}},
		{"v0 refuses an unknown field", map[string][]byte{RootUISchema: []byte(`{"inputs": [], "outptus": {}}`)}, []string{"values.ui.json", "outptus"}},
		{"unknown apiVersion", map[string][]byte{PlatzUISchema: []byte("apiVersion: platz.io/v9\nkind: ValuesUi\ninputs: []\n")}, []string{"platz/values-ui.yaml", "platz.io/v9"}},
		{"wrong kind", map[string][]byte{PlatzFeatures: []byte("apiVersion: platz.io/v1beta2\nkind: ValuesUi\nspec: {}\n")}, []string{"platz/features.yaml", "kind \"ValuesUi\""}},
		{"unknown input type", map[string][]byte{RootUISchema: []byte(`{"inputs": [{"id": "a", "type": "colour", "label": "A"}]}`)}, []string{"inputs[0] (a)", "colour"}},
		{"array without itemType", map[string][]byte{RootUISchema: []byte(`{"inputs": [{"id": "a", "type": "array", "label": "A"}]}`)}, []string{"inputs[0] (a)", "itemType"}},
		{"no label", map[string][]byte{RootUISchema: []byte(`{"inputs": [{"id": "a", "type": "text"}]}`)}, []string{"inputs[0] (a)", "label"}},
		{"duplicate id", map[string][]byte{RootUISchema: []byte(`{"inputs": [{"id": "a", "type": "text", "label": "A"}, {"id": "a", "type": "text", "label": "B"}]}`)}, []string{"inputs[1] (a)"}},
		{"output to an undefined input", map[string][]byte{RootUISchema: []byte(`{"inputs": [], "outputs": {"values": [{"path": ["x"], "value": {"FieldValue": {"input": "ghost"}}}]}}`)}, []string{"outputs.values[0]", "ghost"}},
		{"bad list step", map[string][]byte{RootUISchema: []byte(`{"inputs": [{"id": "a", "type": "text", "label": "A"}], "outputs": {"values": [{"path": ["x", "[9999]"], "value": {"FieldValue": {"input": "a"}}}]}}`)}, []string{"outputs.values[0].path[1]", "[9999]"}},
		{"property of a non-collection", map[string][]byte{RootUISchema: []byte(`{"inputs": [{"id": "a", "type": "text", "label": "A"}], "outputs": {"values": [{"path": ["x"], "value": {"FieldProperty": {"input": "a", "property": "id"}}}]}}`)}, []string{"not a CollectionSelect"}},
		{"secret name", map[string][]byte{RootUISchema: []byte(`{"inputs": [{"id": "a", "type": "text", "label": "A"}], "outputs": {"values": [], "secrets": {"Bad_Name": {"k": {"FieldValue": {"input": "a"}}}}}}`)}, []string{"outputs.secrets.Bad_Name"}},
		{"unsupported showIf operator", map[string][]byte{RootUISchema: []byte(`{"inputs": [{"id": "a", "type": "text", "label": "A", "showIf": {"regex": ["x", "y"]}}]}`)}, []string{"showIf", "regex"}},
		{"cardinality", map[string][]byte{RootFeatures: []byte(`{"cardinality": "Two"}`)}, []string{"features.json", "cardinality"}},
		{"action role", map[string][]byte{RootActions: []byte(`{"schema_version": 1, "actions": [{"id": "x", "allowed_role": "God", "endpoint": "standard_ingress", "path": "/", "method": "GET", "title": "X", "description": ""}]}`)}, []string{"actions.schema.json", "actions[0] (x)", "God"}},
		{"action list without apiVersion", map[string][]byte{PlatzActions: []byte("- kind: Action\n  spec: {id: x}\n")}, []string{"platz/actions.yaml", "[0]"}},
		{"resource type without apiVersion", map[string][]byte{PlatzResources: []byte("- key: x\n  spec: {}\n")}, []string{"platz/resources.yaml", "[0]"}},
		{"huge file", map[string][]byte{RootFeatures: []byte(`{"x":"` + strings.Repeat("a", maxExtFileBytes) + `"}`)}, []string{"features.json", "bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.files)
			if err == nil {
				t.Fatal("parsed; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
