// Package tasks runs the operations the platform API records: each change
// to an app is a task row (the history), and a runner on every API replica
// claims due tasks one at a time and carries them out against the
// Kubernetes API. The operator does the rest.
package tasks

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// Request is what a task does, stored with it.
type Request struct {
	// Spec is the app's full spec (Install, Upgrade, Recreate).
	Spec *platformv1.ApplicationSpec `json:"spec,omitempty"`
	// Action is the action to invoke (InvokeAction).
	Action string `json:"action,omitempty"`
	// Resource is the object to restart (RestartK8sResource).
	Resource *ResourceRef `json:"resource,omitempty"`
	// ToNamespace is where a Recreate moves the app.
	ToNamespace string `json:"toNamespace,omitempty"`
	// ConfirmDataLoss is the caller's confirmation that a Recreate leaves
	// the app's data behind (RecreateDataLoss).
	ConfirmDataLoss bool `json:"confirmDataLoss,omitempty"`
	// Reason says why a Reinstall was asked for.
	Reason string `json:"reason,omitempty"`
	// Preview is the preview to create or delete.
	Preview *PreviewRef `json:"preview,omitempty"`
}

// RecreateDataLoss says what a Recreate of namespace/name (spec) to
// toNamespace loses: the new app is a new object with names of its own, so
// it starts with none of the old one's data, and deleting the old one
// treats its data as its deletion policy says.
func RecreateDataLoss(namespace, name, toNamespace string, spec platformv1.ApplicationSpec) string {
	var what []string
	if spec.Database != nil && spec.Database.Enabled {
		fate := "dropped"
		if spec.DeletionPolicy() == platformv1.DeletionPolicyRetain {
			fate = "kept but unreachable"
		}
		what = append(what, fmt.Sprintf("its database (deletionPolicy %s: %s; the new app may meet SchemaConflict while it exists)", spec.DeletionPolicy(), fate))
	}
	if spec.Storage != nil && spec.Storage.Enabled {
		what = append(what, "its object-store buckets")
	}
	if spec.Auth != nil && spec.Auth.Enabled {
		what = append(what, "its sign-in realm and users")
	}
	if len(what) == 0 {
		what = append(what, "its task history")
	}
	return fmt.Sprintf("recreating %s/%s in %s does not move its data: the new app starts with none of %s, which go with the old app; "+
		`send "confirmDataLoss": true to proceed, or copy the data first`, namespace, name, toNamespace, strings.Join(what, ", "))
}

// PreviewRef describes a preview action.
type PreviewRef struct {
	Name        string `json:"name,omitempty"`
	PullRequest int32  `json:"pullRequest"`
	ImageRef    string `json:"imageRef,omitempty"`
	TTL         string `json:"ttl,omitempty"`
}

// ResourceRef names a Kubernetes object in the app's namespace.
type ResourceRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Actions an app can invoke. Each is declared by a capability the app
// uses: an app without a database has no database credentials to rotate.
const (
	ActionRotateDatabaseCredentials = "rotate-database-credentials"
	ActionRotateStorageCredentials  = "rotate-storage-credentials"
	ActionRotateAuthCredentials     = "rotate-auth-credentials"
	// The preview actions every app has; the portal offers them as forms.
	ActionCreatePreview = "create-preview"
	ActionDeletePreview = "delete-preview"
)

// Action is one an app declares.
type Action struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Actions lists what spec declares.
func Actions(spec platformv1.ApplicationSpec) []Action {
	out := []Action{}
	if spec.Database != nil && spec.Database.Enabled {
		out = append(out, Action{ActionRotateDatabaseCredentials, "New database password: set in PostgreSQL first, then the Secret; the pods roll."})
	}
	if spec.Storage != nil && spec.Storage.Enabled {
		out = append(out, Action{ActionRotateStorageCredentials, "New object-store access key; the pods roll."})
	}
	if spec.Auth != nil && spec.Auth.Enabled {
		out = append(out, Action{ActionRotateAuthCredentials, "New OIDC client secret; the pods roll."})
	}
	return out
}

// credentialSecret is the Secret whose deletion makes the operator rotate
// the action's credentials (backend first, then the Secret).
func credentialSecret(action, app string) (string, error) {
	switch action {
	case ActionRotateDatabaseCredentials:
		return app + "-db", nil
	case ActionRotateStorageCredentials:
		return app + "-storage", nil
	case ActionRotateAuthCredentials:
		return app + "-auth", nil
	}
	return "", fmt.Errorf("unknown action %q", action)
}

// Diff lists the fields of the spec that change, as JSON paths with the
// old and new values.
func Diff(from, to *platformv1.ApplicationSpec) []store.Change {
	out := []store.Change{}
	diffValues("spec", toTree(from), toTree(to), &out)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func toTree(spec *platformv1.ApplicationSpec) any {
	if spec == nil {
		return nil
	}
	b, _ := json.Marshal(spec)
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}

func diffValues(path string, a, b any, out *[]store.Change) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	// A section added or removed is listed field by field.
	if aok && b == nil {
		bm, bok = map[string]any{}, true
	}
	if bok && a == nil {
		am, aok = map[string]any{}, true
	}
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			diffValues(path+"."+k, am[k], bm[k], out)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, store.Change{Path: path, From: a, To: b})
	}
}
