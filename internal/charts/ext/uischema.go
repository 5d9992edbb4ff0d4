package ext

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// wireUISchema is a values UI schema as written: v0 has inputs and outputs
// only; platz.io/v1beta1 adds apiVersion and kind ValuesUi.
type wireUISchema struct {
	APIVersion string      `json:"apiVersion,omitempty"`
	Kind       string      `json:"kind,omitempty"`
	Inputs     []wireInput `json:"inputs"`
	Outputs    struct {
		Values  []wireOutput                  `json:"values"`
		Secrets map[string]map[string]wireRef `json:"secrets"`
	} `json:"outputs"`
}

type wireInput struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	ItemType   string          `json:"itemType"`
	Collection json.RawMessage `json:"collection"`
	Label      *string         `json:"label"`
	Initial    json.RawMessage `json:"initialValue"`
	HelpText   string          `json:"helpText"`
	Required   bool            `json:"required"`
	Sensitive  bool            `json:"sensitive"`
	Options    []Option        `json:"options"`
	ShowIfAll  []FieldValue    `json:"showIfAll"`
	ShowIf     json.RawMessage `json:"showIf"`
	Filters    []FieldValue    `json:"filters"`
	Minimum    *float64        `json:"minimum"`
	Maximum    *float64        `json:"maximum"`
	Step       *float64        `json:"step"`
}

type wireOutput struct {
	Path  []string `json:"path"`
	Value wireRef  `json:"value"`
}

// wireRef is {"FieldValue": {"input": …}} or {"FieldProperty": {"input":
// …, "property": …}}.
type wireRef struct {
	FieldValue *struct {
		Input string `json:"input"`
	} `json:"FieldValue"`
	FieldProperty *struct {
		Input    string `json:"input"`
		Property string `json:"property"`
	} `json:"FieldProperty"`
}

func (w wireRef) ref() (Ref, error) {
	switch {
	case w.FieldValue != nil && w.FieldProperty == nil:
		return Ref{Input: w.FieldValue.Input}, nil
	case w.FieldProperty != nil && w.FieldValue == nil:
		if w.FieldProperty.Property == "" {
			return Ref{}, fmt.Errorf("FieldProperty needs a property")
		}
		return Ref{Input: w.FieldProperty.Input, Property: w.FieldProperty.Property}, nil
	}
	return Ref{}, fmt.Errorf("a value is one of FieldValue: {input} or FieldProperty: {input, property}")
}

var inputTypes = []InputType{Text, Number, CollectionSelect, RadioSelect, DaysAndHour, Checkbox}

// inputType reads a type name as the crate does: case-insensitively.
func inputType(s string) (InputType, bool) {
	for _, t := range inputTypes {
		if strings.EqualFold(string(t), s) {
			return t, true
		}
	}
	return "", false
}

func parseUISchema(raw json.RawMessage) (*UISchema, error) {
	v, err := version(raw, "ValuesUi", V1Beta1)
	if err != nil {
		return nil, err
	}
	var w wireUISchema
	// v0 refuses unknown fields (the crate's deny_unknown_fields).
	if err := strict(raw, &w, v == V0); err != nil {
		return nil, err
	}
	return w.normalize(v)
}

func (w *wireUISchema) normalize(v string) (*UISchema, error) {
	if w.Inputs == nil {
		return nil, fmt.Errorf("inputs: missing (a values UI schema lists its inputs, [] for none)")
	}
	s := &UISchema{Version: v, Inputs: []Input{}}
	seen := map[string]bool{}
	for i, in := range w.Inputs {
		where := fmt.Sprintf("inputs[%d]", i)
		if in.ID == "" {
			return nil, fmt.Errorf("%s: id is missing", where)
		}
		where = fmt.Sprintf("inputs[%d] (%s)", i, in.ID)
		if seen[in.ID] {
			return nil, fmt.Errorf("%s: id is used by an earlier input", where)
		}
		seen[in.ID] = true
		if in.Label == nil {
			return nil, fmt.Errorf("%s: label is missing", where)
		}
		n := Input{ID: in.ID, Label: *in.Label, Initial: in.Initial, HelpText: in.HelpText, Required: in.Required, Sensitive: in.Sensitive,
			Options: in.Options, ShowIfAll: in.ShowIfAll, ShowIf: in.ShowIf, Filters: in.Filters, Minimum: in.Minimum, Maximum: in.Maximum, Step: in.Step}
		typ := in.Type
		if typ == "array" {
			if in.ItemType == "" {
				return nil, fmt.Errorf("%s: type array needs an itemType", where)
			}
			n.Array, typ = true, in.ItemType
		}
		t, ok := inputType(typ)
		if !ok {
			return nil, fmt.Errorf("%s: type %q is not one of text, number, Checkbox, RadioSelect, DaysAndHour, CollectionSelect or array", where, typ)
		}
		n.Type = t
		if t == CollectionSelect {
			if len(in.Collection) == 0 {
				return nil, fmt.Errorf("%s: a CollectionSelect needs a collection", where)
			}
			n.Collection = in.Collection
		}
		if len(in.ShowIf) > 0 {
			if err := checkLogic(in.ShowIf); err != nil {
				return nil, fmt.Errorf("%s: showIf: %v", where, err)
			}
		}
		s.Inputs = append(s.Inputs, n)
	}
	for i, o := range w.Outputs.Values {
		where := fmt.Sprintf("outputs.values[%d]", i)
		ref, err := o.Value.ref()
		if err != nil {
			return nil, fmt.Errorf("%s.value: %v", where, err)
		}
		if err := s.checkRef(ref); err != nil {
			return nil, fmt.Errorf("%s.value: %v", where, err)
		}
		if len(o.Path) == 0 {
			return nil, fmt.Errorf("%s.path: empty", where)
		}
		for j, step := range o.Path {
			if _, err := parseStep(step); err != nil {
				return nil, fmt.Errorf("%s.path[%d]: %v", where, j, err)
			}
		}
		s.Outputs.Values = append(s.Outputs.Values, ValueOutput{Path: o.Path, Value: ref})
	}
	for name, keys := range w.Outputs.Secrets {
		if !dnsSubdomain(name) {
			return nil, fmt.Errorf("outputs.secrets.%s: not a valid Secret name (lowercase letters, digits, '-' and '.')", name)
		}
		for key, wr := range keys {
			ref, err := wr.ref()
			if err == nil {
				err = s.checkRef(ref)
			}
			if err != nil {
				return nil, fmt.Errorf("outputs.secrets.%s.%s: %v", name, key, err)
			}
			if s.Outputs.Secrets == nil {
				s.Outputs.Secrets = map[string]map[string]Ref{}
			}
			if s.Outputs.Secrets[name] == nil {
				s.Outputs.Secrets[name] = map[string]Ref{}
			}
			s.Outputs.Secrets[name][key] = ref
		}
	}
	return s, nil
}

// Input returns the input of id, nil when the schema has none.
func (s *UISchema) Input(id string) *Input {
	for i := range s.Inputs {
		if s.Inputs[i].ID == id {
			return &s.Inputs[i]
		}
	}
	return nil
}

func (s *UISchema) checkRef(r Ref) error {
	in := s.Input(r.Input)
	if in == nil {
		return fmt.Errorf("refers to input %s, which inputs does not define", r.Input)
	}
	if r.Property != "" && in.Type != CollectionSelect {
		return fmt.Errorf("takes property %s of input %s, which is not a CollectionSelect", r.Property, r.Input)
	}
	return nil
}

// step is one element of an output path.
type step struct {
	key    string // a map key, when not an index step
	index  int    // [N]
	append bool   // [+]
	last   bool   // [=]
	isList bool
}

// maxListIndex bounds [N] and [+], as the crate does, so a hostile schema
// cannot make a huge list.
const maxListIndex = 1024

func parseStep(s string) (step, error) {
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		if s == "" {
			return step{}, fmt.Errorf("an empty key")
		}
		return step{key: s}, nil
	}
	inner := s[1 : len(s)-1]
	switch inner {
	case "+":
		return step{append: true, isList: true}, nil
	case "=":
		return step{last: true, isList: true}, nil
	}
	n, err := strconv.Atoi(inner)
	if err != nil || n < 0 || n >= maxListIndex {
		return step{}, fmt.Errorf("%q: a list step is [N] (0 to %d), [+] or [=]", s, maxListIndex-1)
	}
	return step{index: n, isList: true}, nil
}

func dnsSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.'
		if !ok || (i == 0 || i == len(s)-1) && (c == '-' || c == '.') {
			return false
		}
	}
	return true
}
