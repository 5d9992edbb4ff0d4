// Package ext reads Platz's Helm chart extensions — the values UI schema,
// actions, features and resource types — in every version platzio's
// chart-ext crate defines at its tag v0.7.1 (v0, platz.io/v1beta1,
// platz.io/v1beta2; that tag defines no v1), tried newest first, and
// normalizes them to one shape (Extensions) that ChartVersion's status
// stores and the release reconciler, CLI and portal read.
//
// The files are the chart root's values.ui.json, actions.schema.json and
// features.json or, when a platz/ folder exists, platz/values-ui.yaml,
// platz/actions.yaml, platz/features.yaml and platz/resources.yaml. A
// missing file is fine; one that does not parse is an error naming it.
package ext

import "encoding/json"

// Extensions is a chart's extensions in normalized form.
type Extensions struct {
	// Layout is "root" (the chart root's JSON files) or "platz" (the
	// platz/ folder).
	Layout string `json:"layout"`
	// UISchema is the values UI schema, nil without one.
	UISchema *UISchema `json:"uiSchema,omitempty"`
	// Actions the chart's status endpoint serves.
	Actions []Action `json:"actions,omitempty"`
	// ActionsVersion is the version actions were read at.
	ActionsVersion string `json:"actionsVersion,omitempty"`
	// Features, nil without a features file (then Defaults apply).
	Features *Features `json:"features,omitempty"`
	// ResourceTypes the chart defines (platz/resources.yaml).
	ResourceTypes []ResourceType `json:"resourceTypes,omitempty"`
}

// Format summarizes the layout and versions, for ChartVersion's status.
func (e *Extensions) Format() string {
	if e == nil || (e.UISchema == nil && e.Actions == nil && e.Features == nil && e.ResourceTypes == nil) {
		return ""
	}
	s := e.Layout
	sep := " ("
	add := func(kind, v string) {
		s += sep + kind + " " + v
		sep = ", "
	}
	if e.UISchema != nil {
		add("values-ui", e.UISchema.Version)
	}
	if e.ActionsVersion != "" {
		add("actions", e.ActionsVersion)
	}
	if e.Features != nil {
		add("features", e.Features.Version)
	}
	if sep == ", " {
		s += ")"
	}
	return s
}

// Versions of the extension files.
const (
	V0       = "v0"
	V1Beta1  = "platz.io/v1beta1"
	V1Beta2  = "platz.io/v1beta2"
	Many     = "Many"
	OnePer   = "OnePerCluster"
	FormatKN = "KindAndName"
	FormatN  = "Name"
)

// InputType is an input's type.
type InputType string

// The input types of the values UI schema.
const (
	Text             InputType = "text"
	Number           InputType = "number"
	CollectionSelect InputType = "CollectionSelect"
	RadioSelect      InputType = "RadioSelect"
	DaysAndHour      InputType = "DaysAndHour"
	Checkbox         InputType = "Checkbox"
)

// UISchema is a values UI schema: inputs a person fills in and the outputs
// they become (values paths and Secrets).
type UISchema struct {
	Version string  `json:"version"`
	Inputs  []Input `json:"inputs"`
	Outputs Outputs `json:"outputs"`
}

// Input is one field of the form.
type Input struct {
	ID string `json:"id"`
	// Type is the single type; Array says the input is a list of it.
	Type       InputType       `json:"type"`
	Array      bool            `json:"array,omitempty"`
	Collection json.RawMessage `json:"collection,omitempty"`
	Label      string          `json:"label"`
	Initial    json.RawMessage `json:"initialValue,omitempty"`
	HelpText   string          `json:"helpText,omitempty"`
	Required   bool            `json:"required,omitempty"`
	Sensitive  bool            `json:"sensitive,omitempty"`
	Options    []Option        `json:"options,omitempty"`
	ShowIfAll  []FieldValue    `json:"showIfAll,omitempty"`
	ShowIf     json.RawMessage `json:"showIf,omitempty"`
	Filters    []FieldValue    `json:"filters,omitempty"`
	Minimum    *float64        `json:"minimum,omitempty"`
	Maximum    *float64        `json:"maximum,omitempty"`
	Step       *float64        `json:"step,omitempty"`
}

// Option is one choice of a RadioSelect (or a select-like input).
type Option struct {
	Value    json.RawMessage `json:"value"`
	Label    string          `json:"label,omitempty"`
	HelpText string          `json:"helpText,omitempty"`
}

// FieldValue pairs an input id with a value (showIfAll, filters).
type FieldValue struct {
	Field string          `json:"field"`
	Value json.RawMessage `json:"value"`
}

// Outputs are where inputs go.
type Outputs struct {
	Values []ValueOutput `json:"values,omitempty"`
	// Secrets: Secret name → key → the input it holds.
	Secrets map[string]map[string]Ref `json:"secrets,omitempty"`
}

// ValueOutput puts an input at a values path. A step "[N]" is list index
// N (at most 1023), "[+]" appends an element, "[=]" is the last element
// (appended when the list is empty).
type ValueOutput struct {
	Path  []string `json:"path"`
	Value Ref      `json:"value"`
}

// Ref names an input, and for a CollectionSelect input the property of the
// selected item (FieldProperty); Property empty is the input's own value
// (FieldValue).
type Ref struct {
	Input    string `json:"input"`
	Property string `json:"property,omitempty"`
}

// Action is one action of actions.schema.json / platz/actions.yaml.
type Action struct {
	ID                string    `json:"id"`
	AllowedRole       string    `json:"allowedRole"`
	AllowedOnStatuses []string  `json:"allowedOnStatuses,omitempty"`
	Endpoint          string    `json:"endpoint"`
	Path              string    `json:"path"`
	Method            string    `json:"method"`
	Title             string    `json:"title"`
	Icon              string    `json:"fontawesomeIcon,omitempty"`
	Description       string    `json:"description"`
	Dangerous         bool      `json:"dangerous,omitempty"`
	UISchema          *UISchema `json:"uiSchema,omitempty"`
}

// Features are a chart's features.
type Features struct {
	Version string `json:"version"`
	Ingress struct {
		Enabled        bool   `json:"enabled"`
		HostnameFormat string `json:"hostnameFormat"`
	} `json:"ingress"`
	Status                *StatusFeature `json:"status,omitempty"`
	Cardinality           string         `json:"cardinality"`
	ReinstallDependencies bool           `json:"reinstallDependencies"`
	NodeSelectorPaths     [][]string     `json:"nodeSelectorPaths,omitempty"`
	TolerationsPaths      [][]string     `json:"tolerationsPaths,omitempty"`
	Display               *Display       `json:"display,omitempty"`
}

// Defaults are the features of a chart without a features file.
func Defaults() Features {
	f := Features{Version: V1Beta2, Cardinality: Many, ReinstallDependencies: true}
	f.Ingress.HostnameFormat = FormatKN
	return f
}

// StatusFeature is the status endpoint (Platz's status shape).
type StatusFeature struct {
	Endpoint            string `json:"endpoint"`
	Path                string `json:"path"`
	RefreshIntervalSecs uint64 `json:"refreshIntervalSecs"`
}

// Display is how a release is shown (v1beta2).
type Display struct {
	// Name is "DeploymentName" or "input:<id>" (an input's value).
	Name string `json:"name,omitempty"`
	Icon string `json:"icon,omitempty"`
}

// ResourceType is one of platz/resources.yaml's resource types.
type ResourceType struct {
	Key          string             `json:"key"`
	NameSingular string             `json:"nameSingular"`
	NamePlural   string             `json:"namePlural"`
	Icon         string             `json:"fontawesomeIcon"`
	Global       bool               `json:"global,omitempty"`
	ValuesUI     UISchema           `json:"valuesUi"`
	Lifecycle    map[string]Trigger `json:"lifecycle,omitempty"`
}

// Trigger is a resource type's lifecycle action (create, update, delete).
type Trigger struct {
	AllowedRole string `json:"allowedRole,omitempty"`
	Endpoint    string `json:"endpoint,omitempty"`
	Path        string `json:"path,omitempty"`
	Method      string `json:"method,omitempty"`
}
