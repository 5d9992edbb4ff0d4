package events

import (
	"os/exec"
	"strings"
	"testing"
)

// The portal's copy of the kinds, run in Node.js: it lists every kind of
// Kinds, and a kind that does not exist throws instead of being undefined.
func TestKindsJSRunsAndListsEveryKind(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("Node.js is not installed (hack/install-deps.sh installs it)")
	}
	script := KindsJS() + `
console.log(PlattrEvents.all.join(","));
console.log(PlattrEvents.kind.task, PlattrEvents.reload);
try { PlattrEvents.kind.taks; console.log("no throw"); } catch (e) { console.log("threw: " + e.message); }
`
	out, err := exec.Command(node, "-e", script).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v: %s", err, out)
	}
	var names []string
	for _, k := range Kinds {
		names = append(names, k.Name)
	}
	want := strings.Join(names, ",") + "\ntask reload\nthrew: no event kind taks\n"
	if string(out) != want {
		t.Fatalf("node printed\n%s\nwant\n%s", out, want)
	}
}

func TestEveryKindIsDeclaredOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds {
		if seen[k.Name] || k.Name == KindReload {
			t.Errorf("kind %q declared twice or clashing with the reload message", k.Name)
		}
		seen[k.Name] = true
		if k.Payload == nil || k.Source == "" || (k.Audience != AudienceApp && k.Audience != AudienceTenant && k.Audience != AudienceRoles) {
			t.Errorf("kind %q: %+v", k.Name, k)
		}
		if got, ok := Lookup(k.Name); !ok || got.Name != k.Name {
			t.Errorf("Lookup(%q) = %+v, %v", k.Name, got, ok)
		}
	}
}
