package ext

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
)

// Collections resolves a CollectionSelect item's property (the next issue
// serves collections; without one, FieldProperty outputs are refused).
type Collections interface {
	Resolve(collection json.RawMessage, id, property string) (any, error)
}

// Secret is a Secret output: its name and data.
type Secret struct {
	Name string
	Data map[string]string
}

// Visible reports whether in is shown for these inputs: its showIf (JSON
// logic) holds, or every showIfAll pair matches.
func (in *Input) Visible(inputs map[string]any) bool {
	if len(in.ShowIf) > 0 {
		var rule any
		if json.Unmarshal(in.ShowIf, &rule) != nil {
			return false
		}
		v, err := evalLogic(rule, inputs)
		return err == nil && v == true
	}
	for _, fv := range in.ShowIfAll {
		var want any
		if json.Unmarshal(fv.Value, &want) != nil {
			return false
		}
		got, ok := inputs[fv.Field]
		if !ok || !reflect.DeepEqual(got, want) {
			return false
		}
	}
	return true
}

// Validate checks inputs (id → value as decoded from JSON) against the
// schema and returns every problem, each naming its input: an unknown
// input, a required visible input missing, a value of the wrong type, a
// number out of range, a choice not among the options.
func (s *UISchema) Validate(inputs map[string]any) error {
	var errs []error
	ids := make([]string, 0, len(inputs))
	for id := range inputs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if s.Input(id) == nil {
			errs = append(errs, fmt.Errorf("input %s: the chart's values UI schema has no such input", id))
		}
	}
	for i := range s.Inputs {
		in := &s.Inputs[i]
		v, given := inputs[in.ID]
		if !in.Visible(inputs) {
			continue
		}
		if !given {
			if in.Required {
				errs = append(errs, fmt.Errorf("input %s (%s) is required", in.ID, in.Label))
			}
			continue
		}
		if err := in.check(v); err != nil {
			errs = append(errs, fmt.Errorf("input %s: %v", in.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (in *Input) check(v any) error {
	if in.Array {
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want a list of %s", in.Type)
		}
		for i, item := range list {
			if err := in.checkOne(item); err != nil {
				return fmt.Errorf("[%d]: %v", i, err)
			}
		}
		return nil
	}
	return in.checkOne(v)
}

func (in *Input) checkOne(v any) error {
	switch in.Type {
	case Text:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("want text, got %s", kind(v))
		}
	case Number:
		n, ok := v.(float64)
		if !ok {
			return fmt.Errorf("want a number, got %s", kind(v))
		}
		if in.Minimum != nil && n < *in.Minimum {
			return fmt.Errorf("%v is less than the minimum %v", n, *in.Minimum)
		}
		if in.Maximum != nil && n > *in.Maximum {
			return fmt.Errorf("%v is more than the maximum %v", n, *in.Maximum)
		}
		if in.Step != nil && *in.Step > 0 {
			base := 0.0
			if in.Minimum != nil {
				base = *in.Minimum
			}
			if q := (n - base) / *in.Step; math.Abs(q-math.Round(q)) > 1e-9 {
				return fmt.Errorf("%v is not a multiple of the step %v", n, *in.Step)
			}
		}
	case Checkbox:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("want true or false, got %s", kind(v))
		}
	case CollectionSelect:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("want the id of an item, got %s", kind(v))
		}
	case DaysAndHour:
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("want an object of days and hour, got %s", kind(v))
		}
	}
	if in.Type == RadioSelect || len(in.Options) > 0 {
		for _, o := range in.Options {
			var want any
			if json.Unmarshal(o.Value, &want) == nil && reflect.DeepEqual(v, want) {
				return nil
			}
		}
		return fmt.Errorf("%v is not one of the options", v)
	}
	return nil
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "text"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// errHidden: an optional input is absent or hidden; its outputs are
// omitted.
var errHidden = errors.New("hidden or absent")

// resolve is the value of a reference for these inputs.
func (s *UISchema) resolve(r Ref, inputs map[string]any, coll Collections) (any, error) {
	in := s.Input(r.Input)
	if in == nil {
		return nil, fmt.Errorf("an output refers to input %s, which the schema does not define", r.Input)
	}
	if !in.Visible(inputs) {
		return nil, errHidden
	}
	v, ok := inputs[r.Input]
	if !ok {
		if in.Required {
			return nil, fmt.Errorf("input %s (%s) is required", in.ID, in.Label)
		}
		return nil, errHidden
	}
	if r.Property == "" {
		return v, nil
	}
	if coll == nil {
		return nil, fmt.Errorf("input %s: collections are not served yet, so its property %s cannot be resolved", r.Input, r.Property)
	}
	if in.Array {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("input %s: want a list of ids", r.Input)
		}
		out := make([]any, 0, len(list))
		for _, item := range list {
			id, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("input %s: want a list of ids", r.Input)
			}
			p, err := coll.Resolve(in.Collection, id, r.Property)
			if err != nil {
				return nil, fmt.Errorf("input %s: %v", r.Input, err)
			}
			out = append(out, p)
		}
		return out, nil
	}
	id, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("input %s: want an id", r.Input)
	}
	p, err := coll.Resolve(in.Collection, id, r.Property)
	if err != nil {
		return nil, fmt.Errorf("input %s: %v", r.Input, err)
	}
	return p, nil
}

// Render turns inputs into values (the outputs, in order, at their paths)
// and Secrets (each with the keys whose inputs are given; a Secret with
// none is left out). Hidden or absent optional inputs are omitted; a
// missing required one is an error naming it.
func (s *UISchema) Render(inputs map[string]any, coll Collections) (map[string]any, []Secret, error) {
	values := map[string]any{}
	for _, o := range s.Outputs.Values {
		v, err := s.resolve(o.Value, inputs, coll)
		if errors.Is(err, errHidden) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if err := Insert(values, o.Path, v); err != nil {
			return nil, nil, err
		}
	}
	names := make([]string, 0, len(s.Outputs.Secrets))
	for n := range s.Outputs.Secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	var secrets []Secret
	for _, name := range names {
		data := map[string]string{}
		for key, ref := range s.Outputs.Secrets[name] {
			v, err := s.resolve(ref, inputs, coll)
			if errors.Is(err, errHidden) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			if str, ok := v.(string); ok {
				data[key] = str
			} else {
				b, _ := json.Marshal(v)
				data[key] = string(b)
			}
		}
		if len(data) > 0 {
			secrets = append(secrets, Secret{Name: name, Data: data})
		}
	}
	return values, secrets, nil
}

// Insert puts v at path in values: a key step descends into (or makes) a
// map, "[N]" into element N of a list (growing it with nulls), "[+]" into
// a new last element, "[=]" into the last element (made when the list is
// empty). A step that meets a value of another shape replaces nothing and
// is an error.
func Insert(values map[string]any, path []string, v any) error {
	if len(path) == 0 {
		return fmt.Errorf("an empty path")
	}
	steps := make([]step, len(path))
	for i, p := range path {
		s, err := parseStep(p)
		if err != nil {
			return fmt.Errorf("path[%d]: %v", i, err)
		}
		steps[i] = s
	}
	if steps[0].isList {
		return fmt.Errorf("path[0] %q: the values root is a map", path[0])
	}
	var cur any = values
	var set func(any) // writes the current node into its parent
	for i, st := range steps {
		last := i == len(steps)-1
		switch node := cur.(type) {
		case map[string]any:
			if st.isList {
				return fmt.Errorf("path[%d] %q: %s is a map, not a list", i, path[i], joinPath(path[:i]))
			}
			if last {
				node[st.key] = v
				return nil
			}
			child, ok := node[st.key]
			if !ok || child == nil {
				child = empty(steps[i+1])
				node[st.key] = child
			}
			key := st.key
			cur, set = child, func(x any) { node[key] = x }
		case []any:
			if !st.isList {
				return fmt.Errorf("path[%d] %q: %s is a list, not a map", i, path[i], joinPath(path[:i]))
			}
			idx := 0
			switch {
			case st.append:
				if len(node) >= maxListIndex {
					return fmt.Errorf("path[%d]: %s has %d elements, the most a list may", i, joinPath(path[:i]), maxListIndex)
				}
				node = append(node, nil)
				idx = len(node) - 1
			case st.last:
				if len(node) == 0 {
					node = append(node, nil)
				}
				idx = len(node) - 1
			default:
				idx = st.index
				for len(node) <= idx {
					node = append(node, nil)
				}
			}
			set(node)
			if last {
				node[idx] = v
				return nil
			}
			if node[idx] == nil {
				node[idx] = empty(steps[i+1])
			}
			n, j := node, idx
			cur, set = node[idx], func(x any) { n[j] = x }
		default:
			return fmt.Errorf("path[%d] %q: %s is %s, neither a map nor a list", i, path[i], joinPath(path[:i]), kind(node))
		}
	}
	return nil
}

func empty(next step) any {
	if next.isList {
		return []any{}
	}
	return map[string]any{}
}

func joinPath(p []string) string {
	out := ""
	for _, s := range p {
		if len(s) > 0 && s[0] == '[' {
			out += s
		} else {
			out += "." + s
		}
	}
	return out
}
