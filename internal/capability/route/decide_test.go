package route

import (
	"fmt"
	"testing"
	"time"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func prefix(v string) Path { return Path{Type: platformv1.ApiPathPrefix, Value: v} }
func exact(v string) Path  { return Path{Type: platformv1.ApiPathExact, Value: v} }

func claimant(ns, name string, created time.Duration, claims ...Claim) Claimant {
	return Claimant{Key: Key{ns, name}, Created: t0.Add(created), Claims: claims}
}

func at(p Path, d time.Duration) Claim { return Claim{Path: p, Since: t0.Add(d)} }
func fresh(p Path) Claim               { return Claim{Path: p} }

// states renders a verdict list as "path=State(owner)" strings.
func states(vs []Verdict) []string {
	var out []string
	for _, v := range vs {
		s := fmt.Sprintf("%s=%s", v.Path.Value, v.State)
		if v.Owner != "" {
			s += "(" + v.Owner + ")"
		}
		out = append(out, s)
	}
	return out
}

func TestDecide(t *testing.T) {
	now := t0.Add(time.Hour)
	tests := []struct {
		name      string
		claimants []Claimant
		rules     Rules
		want      map[string][]string // target name → states
	}{
		{
			name: "first claimant of a path owns it; the loser keeps its other paths",
			claimants: []Claimant{
				claimant("b", "orders-b", time.Minute, at(prefix("/orders"), 2*time.Minute), at(prefix("/billing"), 2*time.Minute)),
				claimant("a", "orders-a", 0, at(prefix("/orders"), time.Minute)),
			},
			want: map[string][]string{"orders-a": {"/orders=Active"}, "orders-b": {"/orders=Conflicted(a/orders-a)", "/billing=Active"}},
		},
		{
			name: "a foreign sub-path under an owned prefix conflicts; the owner's own sub-path does not",
			claimants: []Claimant{
				claimant("a", "a", 0, at(prefix("/orders"), 0), at(exact("/orders/admin"), 0)),
				claimant("b", "b", time.Second, at(prefix("/orders/admin"), time.Second), at(exact("/orders"), time.Second)),
			},
			want: map[string][]string{"a": {"/orders=Active", "/orders/admin=Active"}, "b": {"/orders/admin=Conflicted(a/a)", "/orders=Conflicted(a/a)"}},
		},
		{
			name: "a prefix over an owned path conflicts too (it would shadow it)",
			claimants: []Claimant{
				claimant("a", "a", 0, at(exact("/orders/v1"), 0)),
				claimant("b", "b", time.Second, at(prefix("/orders"), time.Second)),
			},
			want: map[string][]string{"a": {"/orders/v1=Active"}, "b": {"/orders=Conflicted(a/a)"}},
		},
		{
			name: "trailing slash and /ordersx: one prefix /orders/, a different path /ordersx",
			claimants: []Claimant{
				claimant("a", "a", 0, at(prefix("/orders/"), 0)),
				claimant("b", "b", time.Second, at(prefix("/orders"), time.Second), at(prefix("/ordersx"), time.Second)),
			},
			want: map[string][]string{"a": {"/orders/=Active"}, "b": {"/orders=Conflicted(a/a)", "/ordersx=Active"}},
		},
		{
			name: "an edit does not take over by age: the old target's new path is claimed now",
			claimants: []Claimant{
				claimant("old", "old", 0, at(prefix("/a"), 0), fresh(prefix("/orders"))),
				claimant("new", "new", 30*time.Minute, at(prefix("/orders"), 30*time.Minute)),
			},
			want: map[string][]string{"old": {"/a=Active", "/orders=Conflicted(new/new)"}, "new": {"/orders=Active"}},
		},
		{
			name: "deleting the winner promotes the next claimant",
			claimants: []Claimant{
				claimant("c", "c", 2*time.Minute, at(prefix("/orders"), 2*time.Minute)),
				claimant("b", "b", time.Minute, at(prefix("/orders"), time.Minute)),
			},
			want: map[string][]string{"b": {"/orders=Active"}, "c": {"/orders=Conflicted(b/b)"}},
		},
		{
			name: "two new claims of one instant: the older target wins, then the name",
			claimants: []Claimant{
				claimant("z", "z", 0, fresh(prefix("/x"))),
				claimant("a", "a", 0, fresh(prefix("/x"))),
				claimant("m", "m", -time.Minute, fresh(prefix("/y"))),
				claimant("n", "n", 0, fresh(prefix("/y"))),
			},
			want: map[string][]string{"a": {"/x=Active"}, "z": {"/x=Conflicted(a/a)"}, "m": {"/y=Active"}, "n": {"/y=Conflicted(m/m)"}},
		},
		{
			name: "exact paths overlap only when equal",
			claimants: []Claimant{
				claimant("a", "a", 0, at(exact("/h"), 0)),
				claimant("b", "b", time.Second, at(exact("/h/x"), time.Second), at(exact("/h"), time.Second)),
			},
			want: map[string][]string{"a": {"/h=Active"}, "b": {"/h/x=Active", "/h=Conflicted(a/a)"}},
		},
		{
			name: "a lost claim blocks nobody: the third claimant of an overlap is judged against the holder only",
			claimants: []Claimant{
				claimant("a", "a", 0, at(exact("/o/x"), 0)),
				claimant("b", "b", time.Second, at(prefix("/o"), time.Second)),
				claimant("c", "c", 2*time.Second, at(exact("/o/y"), 2*time.Second)),
			},
			want: map[string][]string{"a": {"/o/x=Active"}, "b": {"/o=Conflicted(a/a)"}, "c": {"/o/y=Active"}},
		},
		{
			name:  "reserved paths and the /preview/ prefix",
			rules: Rules{Reserved: []string{"/admin"}},
			claimants: []Claimant{
				claimant("team", "t", 0, at(prefix("/admin/x"), 0), at(prefix("/preview/shop/pr-1"), 0), at(prefix("/"), 0)),
				claimant("preview-shop-pr-7", "p", time.Second, at(prefix("/preview/shop/pr-7/api"), 0), at(prefix("/preview/shop/pr-8"), 0)),
			},
			want: map[string][]string{
				// "/" is a prefix over the reserved /preview/: it would
				// take previews' traffic, so it is refused too.
				"t": {"/admin/x=Conflicted(reserved)", "/preview/shop/pr-1=Conflicted(reserved)", "/=Conflicted(reserved)"},
				"p": {"/preview/shop/pr-7/api=Active", "/preview/shop/pr-8=Conflicted(reserved)"},
			},
		},
		{
			name: "a preview gets its own prefix when nobody holds /",
			claimants: []Claimant{
				claimant("preview-shop-pr-7", "p", 0, at(prefix("/preview/shop/pr-7"), 0), at(prefix("/preview"), 0)),
			},
			want: map[string][]string{"p": {"/preview/shop/pr-7=Active", "/preview=Conflicted(reserved)"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.claimants, tc.rules, now)
			for _, c := range tc.claimants {
				g, w := states(got[c.Key]), tc.want[c.Key.Name]
				if fmt.Sprint(g) != fmt.Sprint(w) {
					t.Errorf("%s: got %v, want %v", c.Key, g, w)
				}
			}
		})
	}
}

func TestDecideRecordsClaimTimes(t *testing.T) {
	now := t0.Add(time.Hour)
	got := Decide([]Claimant{
		claimant("a", "a", 0, at(prefix("/x"), time.Minute), fresh(prefix("/y"))),
		claimant("b", "b", 0, fresh(prefix("/x"))),
	}, Rules{}, now)
	a, b := got[Key{"a", "a"}], got[Key{"b", "b"}]
	if !a[0].Since.Equal(t0.Add(time.Minute)) || !a[1].Since.Equal(now) {
		t.Errorf("a's claim times = %v, %v; want the recorded one and now", a[0].Since, a[1].Since)
	}
	if !b[0].OwnerSince.Equal(t0.Add(time.Minute)) || b[0].Message == "" {
		t.Errorf("b's lost claim names the owner's time %v and says why (%q)", b[0].OwnerSince, b[0].Message)
	}
}

func TestChunk(t *testing.T) {
	for _, tc := range []struct{ paths, routes, last int }{
		{0, 0, 0}, {1, 1, 1}, {16, 1, 16}, {17, 2, 1}, {40, 3, 8}, {200, 13, 8},
	} {
		rules := make([]Rule, tc.paths)
		chunks := Chunk(rules)
		if len(chunks) != tc.routes {
			t.Errorf("%d paths: %d routes, want %d", tc.paths, len(chunks), tc.routes)
			continue
		}
		total := 0
		for _, c := range chunks {
			if len(c) > MaxRulesPerRoute || len(c) >= 128 {
				t.Errorf("%d paths: a route with %d rules", tc.paths, len(c))
			}
			total += len(c)
		}
		if total != tc.paths || (tc.routes > 0 && len(chunks[len(chunks)-1]) != tc.last) {
			t.Errorf("%d paths: chunks hold %d, last %d", tc.paths, total, len(chunks[len(chunks)-1]))
		}
	}
}
