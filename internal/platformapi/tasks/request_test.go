package tasks

import (
	"fmt"
	"testing"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

func TestDiffNamesChangedFieldsWithBothValues(t *testing.T) {
	from := &platformv1.ApplicationSpec{Repository: "r", ImageRef: "a:1", Database: &platformv1.DatabaseSpec{Enabled: true}}
	to := &platformv1.ApplicationSpec{Repository: "r", ImageRef: "a:2", Storage: &platformv1.StorageSpec{Enabled: true}}
	got := fmt.Sprint(Diff(from, to))
	want := "[{spec.database.enabled true <nil>} {spec.imageRef a:1 a:2} {spec.storage.enabled <nil> true}]"
	if got != want {
		t.Fatalf("diff = %s\nwant   %s", got, want)
	}
	if d := Diff(from, from); len(d) != 0 {
		t.Fatalf("no change, diff = %v", d)
	}
	if d := fmt.Sprint(Diff(nil, to)); d != "[{spec.environment <nil> } {spec.framework <nil> } {spec.imageRef <nil> a:2} {spec.repository <nil> r} {spec.storage.enabled <nil> true}]" {
		t.Fatalf("install diff = %v", d)
	}
}

func TestActionsFollowTheCapabilities(t *testing.T) {
	spec := platformv1.ApplicationSpec{Auth: &platformv1.AuthSpec{Enabled: true}}
	acts := Actions(spec)
	if len(acts) != 1 || acts[0].Name != ActionRotateAuthCredentials {
		t.Fatalf("actions = %v", acts)
	}
	if _, err := credentialSecret("drop-tables", "web"); err == nil {
		t.Fatal("an unknown action has a Secret")
	}
}
