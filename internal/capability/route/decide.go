// Package route is the route capability: the paths ApiAggregatorTargets
// claim on an ApiAggregator's hostname, who owns each (Decide, a pure
// function of the claims), and the Gateway API objects that serve the
// owned ones (HTTPRoutes chunked to the API's limits, the Gateway).
//
// Conflicts are decided here, before anything is rendered, so the data
// plane never sees two owners of one path: Gateway API reports a shadowed
// route Accepted like any other, and a silently dropped route is a
// cross-team hijack.
package route

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Path is one claim's matcher.
type Path struct {
	Type  platformv1.ApiPathType
	Value string
}

// Normalize is the form paths are compared in: a PathPrefix matches
// element by element, so /orders/ and /orders are one prefix.
func (p Path) Normalize() Path {
	if p.Type == "" {
		p.Type = platformv1.ApiPathPrefix
	}
	if p.Type == platformv1.ApiPathPrefix && len(p.Value) > 1 {
		p.Value = strings.TrimRight(p.Value, "/")
		if p.Value == "" {
			p.Value = "/"
		}
	}
	return p
}

// under: path b is p itself or below p, element by element.
func under(b, p string) bool {
	return p == "/" || b == p || strings.HasPrefix(b, p+"/")
}

// overlaps: a request could match both a and b (normalized), so two
// owners of them would shadow one another. Two Exact paths overlap only
// when equal; a PathPrefix covers everything under it.
func overlaps(a, b Path) bool {
	switch {
	case a.Type == platformv1.ApiPathExact && b.Type == platformv1.ApiPathExact:
		return a.Value == b.Value
	case a.Type == platformv1.ApiPathPrefix && b.Type == platformv1.ApiPathPrefix:
		return under(a.Value, b.Value) || under(b.Value, a.Value)
	case a.Type == platformv1.ApiPathPrefix:
		return under(b.Value, a.Value)
	default:
		return under(a.Value, b.Value)
	}
}

// Key names a target, <namespace>/<name>.
type Key struct{ Namespace, Name string }

func (k Key) String() string { return k.Namespace + "/" + k.Name }

// Claim is one path a target asks for.
type Claim struct {
	Path Path
	// Since is when the target first claimed the path, as recorded in its
	// status; zero for a path not recorded yet (claimed now).
	Since time.Time
}

// Claimant is one target and its claims.
type Claimant struct {
	Key Key
	// Created is the target's creationTimestamp: the tie-break between
	// claims of one instant, never a claim's age.
	Created time.Time
	Claims  []Claim
}

// Verdict is the decision on one claim.
type Verdict struct {
	Path Path // as claimed (not normalized)
	// Since is the claim's time: recorded, or now for a new claim. The
	// reconciler records it, so a claim keeps its age across edits.
	Since time.Time
	State platformv1.ApiRouteState
	// Owner holds a lost path: a target, or "reserved"; OwnerSince is its
	// claim's time.
	Owner      string
	OwnerSince time.Time
	Message    string
}

// OwnerReserved is the Owner of a path under a reserved prefix.
const OwnerReserved = "reserved"

// Rules are an aggregator's own reservations.
type Rules struct {
	// Reserved are path prefixes no target may claim.
	Reserved []string
}

// previewPrefix is the one path prefix under /preview/ the namespace may
// claim ("" for a namespace that is not a preview's): a preview's
// namespace is preview-<app>-pr-<N>, its paths /preview/<app>/pr-<N>/.
func previewPrefix(namespace string) string {
	rest, ok := strings.CutPrefix(namespace, "preview-")
	if !ok {
		return ""
	}
	i := strings.LastIndex(rest, "-pr-")
	if i <= 0 || i+4 >= len(rest) {
		return ""
	}
	for _, c := range rest[i+4:] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return PreviewPrefix(rest[:i], rest[i+4:])
}

// PreviewPrefix is the path prefix of app's preview of pull request pr.
func PreviewPrefix(app, pr string) string {
	return platformv1.ReservedPreviewPrefix + "/" + app + "/pr-" + pr
}

// reserved says why a path may not be claimed from namespace, or "".
func (r Rules) reserved(namespace string, p Path) string {
	if overlaps(p, Path{Type: platformv1.ApiPathPrefix, Value: platformv1.ReservedPreviewPrefix}) {
		own := previewPrefix(namespace)
		if own == "" || !under(p.Value, own) {
			return fmt.Sprintf("paths under %s/ are reserved for previews (a preview's own is %s/<app>/pr-<N>/); choose another path",
				platformv1.ReservedPreviewPrefix, platformv1.ReservedPreviewPrefix)
		}
	}
	for _, res := range r.Reserved {
		if overlaps(p, Path{Type: platformv1.ApiPathPrefix, Value: res}.Normalize()) {
			return fmt.Sprintf("%s is reserved on this aggregator; choose a path outside it", res)
		}
	}
	return ""
}

// Decide gives each path to its first claimant: claims are taken in the
// order of their recorded time (new ones at now), then of their target's
// creation, then of the target's name. A claim overlapping a path another
// target already holds — the same (pathType, normalized path), a path
// under its prefix, or a prefix over it — is Conflicted, naming the
// holder; the loser keeps its other paths. One target's own overlapping
// paths are its business. The result is, per target, a verdict per claim
// in the target's order.
func Decide(claimants []Claimant, rules Rules, now time.Time) map[Key][]Verdict {
	type entry struct {
		who   int
		idx   int
		path  Path // normalized
		since time.Time
	}
	out := make(map[Key][]Verdict, len(claimants))
	var entries []entry
	for i, c := range claimants {
		vs := make([]Verdict, len(c.Claims))
		for j, cl := range c.Claims {
			since := cl.Since
			if since.IsZero() {
				since = now
			}
			vs[j] = Verdict{Path: cl.Path, Since: since}
			entries = append(entries, entry{who: i, idx: j, path: cl.Path.Normalize(), since: since})
		}
		out[c.Key] = vs
	}
	slices.SortStableFunc(entries, func(a, b entry) int {
		return cmp.Or(a.since.Compare(b.since), claimants[a.who].Created.Compare(claimants[b.who].Created),
			cmp.Compare(claimants[a.who].Key.String(), claimants[b.who].Key.String()), cmp.Compare(a.idx, b.idx))
	})
	var held []entry
	for _, e := range entries {
		v := &out[claimants[e.who].Key][e.idx]
		if why := rules.reserved(claimants[e.who].Key.Namespace, e.path); why != "" {
			v.State, v.Owner, v.Message = platformv1.ApiRouteConflicted, OwnerReserved, why
			continue
		}
		i := slices.IndexFunc(held, func(h entry) bool { return h.who != e.who && overlaps(h.path, e.path) })
		if i >= 0 {
			h := held[i]
			v.State, v.Owner, v.OwnerSince = platformv1.ApiRouteConflicted, claimants[h.who].Key.String(), h.since
			v.Message = fmt.Sprintf("%s %s is held by %s (claimed %s): it overlaps %s %s; choose another path or ask that team",
				e.path.Type, e.path.Value, claimants[h.who].Key, h.since.UTC().Format(time.RFC3339), h.path.Type, h.path.Value)
			continue
		}
		v.State = platformv1.ApiRouteActive
		held = append(held, e)
	}
	return out
}
