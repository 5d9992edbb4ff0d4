package tasks

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// FuzzDiff: whatever two specs a caller sends (decoded as the API decodes
// them), Diff does not panic, finds nothing between a spec and itself,
// finds something exactly when the two differ, lists paths under spec in
// order, and the reverse diff has the same paths with from and to swapped.
func FuzzDiff(f *testing.F) {
	for _, s := range [][2]string{
		{`{"repository":"r","imageRef":"a:1"}`, `{"repository":"r","imageRef":"a:2"}`},
		{`{"database":{"enabled":true}}`, `{"storage":{"enabled":true,"buckets":[{"name":"b"}]}}`},
		{`{"env":{"A.B":"1","__proto__":"x"}}`, `{"env":{"A":"1"}}`},
		{`{"env":{"":"\u0000"}}`, `{}`},
		{`{"scaling":{"min":1,"max":2147483647}}`, `{"scaling":{"min":-1}}`},
		{`{"imageRef":"` + strings.Repeat("x", 4096) + `"}`, `null`},
		{`{"auth":{"enabled":true,"redirectURIs":["https://a","https://a"]}}`, `{"auth":{}}`},
		{`{"statusPath":"//169.254.169.254/latest"}`, `{"statusPath":"/status"}`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, x, y string) {
		var a, b *platformv1.ApplicationSpec
		if json.Unmarshal([]byte(x), &a) != nil || json.Unmarshal([]byte(y), &b) != nil {
			return
		}
		if d := Diff(a, a); len(d) != 0 {
			t.Fatalf("Diff(a, a) = %v", d)
		}
		d := Diff(a, b)
		// An empty section added or removed is no field changed.
		if same := reflect.DeepEqual(pruned(toTree(a)), pruned(toTree(b))); same != (len(d) == 0) {
			t.Fatalf("specs equal=%v but diff %v", same, d)
		}
		if !sort.SliceIsSorted(d, func(i, j int) bool { return d[i].Path < d[j].Path }) {
			t.Fatalf("unsorted %v", d)
		}
		r := Diff(b, a)
		if len(r) != len(d) {
			t.Fatalf("diff %v, reverse %v", d, r)
		}
		for i, c := range d {
			if !strings.HasPrefix(c.Path, "spec.") || r[i].Path != c.Path ||
				!reflect.DeepEqual(r[i].From, c.To) || !reflect.DeepEqual(r[i].To, c.From) {
				t.Fatalf("change %v, reverse %v", c, r[i])
			}
		}
	})
}

// pruned drops empty objects, recursively.
func pruned(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, x := range m {
		if x = pruned(x); x != nil {
			out[k] = x
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
