package ext

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestInsertListSteps(t *testing.T) {
	values := map[string]any{}
	for _, op := range []struct {
		path []string
		v    any
	}{
		{[]string{"image", "tag"}, "1.0"},
		{[]string{"image", "pullPolicy"}, "Always"},
		{[]string{"args", "[=]"}, "first"},          // empty list: [=] makes element 0
		{[]string{"args", "[+]"}, "second"},         // appends
		{[]string{"env", "[+]", "name"}, "A"},       // a new map element
		{[]string{"env", "[=]", "value"}, "1"},      // the same element
		{[]string{"env", "[+]", "name"}, "B"},       // the next one
		{[]string{"env", "[0]", "value"}, "one"},    // overwrites element 0's value
		{[]string{"grid", "[2]", "[1]"}, "x"},       // grows with nulls, nested lists
		{[]string{"grid", "[=]", "[+]", "k"}, true}, // last of the outer, new of the inner
	} {
		if err := Insert(values, op.path, op.v); err != nil {
			t.Fatalf("Insert(%v): %v", op.path, err)
		}
	}
	want := map[string]any{
		"image": map[string]any{"tag": "1.0", "pullPolicy": "Always"},
		"args":  []any{"first", "second"},
		"env":   []any{map[string]any{"name": "A", "value": "one"}, map[string]any{"name": "B"}},
		"grid":  []any{nil, nil, []any{nil, "x", map[string]any{"k": true}}},
	}
	if !reflect.DeepEqual(values, want) {
		got, _ := json.Marshal(values)
		exp, _ := json.Marshal(want)
		t.Errorf("values\n got %s\nwant %s", got, exp)
	}

	for _, bad := range []struct {
		path []string
		want string
	}{
		{[]string{"[0]"}, "root is a map"},
		{[]string{"image", "[0]"}, ".image is a map, not a list"},
		{[]string{"args", "x"}, ".args is a list, not a map"},
		{[]string{"image", "tag", "x"}, "neither a map nor a list"},
		{[]string{"a", "[1024]"}, "[N] (0 to 1023)"},
		{[]string{"a", "[-1]"}, "list step"},
	} {
		if err := Insert(values, bad.path, 1); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Insert(%v) = %v, want an error saying %q", bad.path, err, bad.want)
		}
	}
	// A hostile schema cannot grow a list past the cap with [+].
	list := map[string]any{}
	var err error
	for i := 0; i <= maxListIndex && err == nil; i++ {
		err = Insert(list, []string{"l", "[+]"}, i)
	}
	if err == nil || len(list["l"].([]any)) != maxListIndex {
		t.Errorf("after %d appends: err %v, len %d", maxListIndex+1, err, len(list["l"].([]any)))
	}
}

func mustSchema(t *testing.T, src string) *UISchema {
	t.Helper()
	e, err := Parse(map[string][]byte{RootUISchema: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	return e.UISchema
}

func TestValidateNamesEachBadInput(t *testing.T) {
	s := mustSchema(t, uiV0)
	ok := map[string]any{"replicas": 2.0, "tier": "small", "token": "t0k", "hosts": []any{"a", "b"}, "window": map[string]any{"days": []any{"Mon"}, "hour": 3.0}}
	if err := s.Validate(ok); err != nil {
		t.Fatalf("valid inputs refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change map[string]any
		drop   string
		want   []string
	}{
		{"missing required", nil, "token", []string{"input token (API token) is required"}},
		{"unknown input", map[string]any{"colour": "red"}, "", []string{"input colour", "no such input"}},
		{"wrong type", map[string]any{"replicas": "two"}, "", []string{"input replicas", "want a number"}},
		{"over the maximum", map[string]any{"replicas": 9.0}, "", []string{"input replicas", "maximum 5"}},
		{"under the minimum", map[string]any{"replicas": 0.0}, "", []string{"minimum 1"}},
		{"off the step", map[string]any{"replicas": 1.5}, "", []string{"step 1"}},
		{"not an option", map[string]any{"tier": "huge"}, "", []string{"input tier", "not one of the options"}},
		{"list item type", map[string]any{"hosts": []any{"a", 3.0}}, "", []string{"input hosts", "[1]"}},
		{"checkbox", map[string]any{"debug": "yes"}, "", []string{"input debug", "true or false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]any{}
			for k, v := range ok {
				in[k] = v
			}
			for k, v := range tc.change {
				in[k] = v
			}
			delete(in, tc.drop)
			err := s.Validate(in)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// Every problem is reported at once.
	err := s.Validate(map[string]any{"replicas": "x", "colour": 1.0})
	for _, w := range []string{"input replicas", "input colour", "input tier", "input token"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %s", err, w)
		}
	}
}

func TestRenderOutputsSecretsAndVisibility(t *testing.T) {
	s := mustSchema(t, uiV0)
	values, secrets, err := s.Render(map[string]any{"replicas": 3.0, "tier": "large", "token": "s3cret", "debugLevel": "trace"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// debugLevel is hidden (debug is not true): omitted; hosts absent: omitted.
	want := map[string]any{"replicaCount": 3.0, "config": map[string]any{"tier": "large"}}
	if !reflect.DeepEqual(values, want) {
		t.Errorf("values = %v, want %v", values, want)
	}
	if len(secrets) != 1 || secrets[0].Name != "api-credentials" || secrets[0].Data["TOKEN"] != "s3cret" {
		t.Errorf("secrets = %+v", secrets)
	}

	values, _, err = s.Render(map[string]any{"tier": "small", "token": "x", "debug": true, "debugLevel": "trace"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := values["config"].(map[string]any)["log"]; !reflect.DeepEqual(got, map[string]any{"level": "trace"}) {
		t.Errorf("a shown input is output: config.log = %v", got)
	}

	if _, _, err := s.Render(map[string]any{"tier": "small"}, nil); err == nil || !strings.Contains(err.Error(), "input token") {
		t.Errorf("a missing required input: %v, want an error naming token", err)
	}

	// showIf (JSON logic) and [+]/[=] in one schema.
	e, err := Parse(map[string][]byte{PlatzUISchema: []byte(uiV1beta1)})
	if err != nil {
		t.Fatal(err)
	}
	values, _, err = e.UISchema.Render(map[string]any{"name": "special", "mode": "b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{map[string]any{"name": "special", "mode": "b"}}; !reflect.DeepEqual(values["app"], want) {
		t.Errorf("app = %v, want %v", values["app"], want)
	}
	values, _, _ = e.UISchema.Render(map[string]any{"name": "plain", "mode": "b"}, nil)
	if want := []any{map[string]any{"name": "plain"}}; !reflect.DeepEqual(values["app"], want) {
		t.Errorf("mode hidden by showIf: app = %v, want %v", values["app"], want)
	}
}

type fakeCollections map[string]any

func (f fakeCollections) Resolve(_ json.RawMessage, id, property string) (any, error) {
	return f[id+"."+property], nil
}

func TestRenderCollectionProperty(t *testing.T) {
	s := mustSchema(t, `{"inputs": [{"id": "db", "type": "CollectionSelect", "collection": "deployments", "label": "DB"},
	  {"id": "peers", "type": "array", "itemType": "CollectionSelect", "collection": "deployments", "label": "Peers"}],
	  "outputs": {"values": [{"path": ["db", "host"], "value": {"FieldProperty": {"input": "db", "property": "host"}}},
	  {"path": ["peers"], "value": {"FieldProperty": {"input": "peers", "property": "host"}}}]}}`)
	in := map[string]any{"db": "a", "peers": []any{"a", "b"}}
	if _, _, err := s.Render(in, nil); err == nil || !strings.Contains(err.Error(), "collections are not served") {
		t.Errorf("without collections: %v", err)
	}
	values, _, err := s.Render(in, fakeCollections{"a.host": "a.svc", "b.host": "b.svc"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(values, map[string]any{"db": map[string]any{"host": "a.svc"}, "peers": []any{"a.svc", "b.svc"}}) {
		t.Errorf("values = %v", values)
	}
}

func TestLogic(t *testing.T) {
	data := map[string]any{"a": 1.0, "b": "x", "c": true, "l": []any{"x", "y"}}
	for _, tc := range []struct {
		rule string
		want any
	}{
		{`{"==": [{"var": "a"}, 1]}`, true},
		{`{"!=": [{"var": "b"}, "x"]}`, false},
		{`{"and": [{"var": "c"}, {">": [{"var": "a"}, 0]}]}`, true},
		{`{"or": [false, {"var": "missing"}]}`, nil},
		{`{"!": {"var": "missing"}}`, true},
		{`{"in": [{"var": "b"}, {"var": "l"}]}`, true},
		{`{"if": [{"var": "c"}, "yes", "no"]}`, "yes"},
		{`{"var": ["missing", 7]}`, 7.0},
	} {
		var rule any
		_ = json.Unmarshal([]byte(tc.rule), &rule)
		got, err := evalLogic(rule, data)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %v, %v; want %v", tc.rule, got, err, tc.want)
		}
	}
}
