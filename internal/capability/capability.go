// Package capability holds what every capability shares: the Target it
// provisions for, the writes to Kubernetes (server-side apply compared with
// what Plattr owns, so a no-op writes nothing), the rules for credential
// Secrets, conditions, and the classification of failures. Each capability
// lives in its own package below this one (database, storage, auth,
// workload, ingress) and knows one concern end to end: ensure, clean up,
// its condition. The Application and PreviewEnvironment controllers compose
// the same capabilities over their own Targets.
package capability

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldManager owns every field Plattr writes with server-side apply.
const FieldManager = "plattr"

// Owner is the object capabilities report to: its status carries their
// conditions and it receives their Events. Application and
// PreviewEnvironment implement it.
type Owner interface {
	client.Object
	StatusConditions() *[]metav1.Condition
}

// Target is one owner as the capabilities see it: where its children live,
// how they are labelled and owned, and what the owner's history says about
// a child found missing.
type Target struct {
	Owner Owner
	// Namespace holds the children. A preview's children live in the
	// preview's own namespace, not in its owner's.
	Namespace string
	// Controller is the controller reference every child carries. A child
	// whose controller has another UID is not Plattr's to read or change.
	Controller metav1.OwnerReference
	// Labels go on every child.
	Labels map[string]string
	// Settled: the owner was Running at its current generation, so a child
	// found missing or different was changed by hand (Event Restored).
	Settled bool
	// Established: the owner was reconciled before, so a credentials Secret
	// found missing was deleted — a request for new credentials (Event).
	Established bool
}

// OwnerReference is t.Controller as an apply configuration.
func (t Target) OwnerReference() *metav1ac.OwnerReferenceApplyConfiguration {
	c := t.Controller
	return metav1ac.OwnerReference().
		WithAPIVersion(c.APIVersion).WithKind(c.Kind).WithName(c.Name).WithUID(c.UID).
		WithController(true).WithBlockOwnerDeletion(true)
}

// Owns reports whether obj's controller is the target's controller.
func (t Target) Owns(obj metav1.Object) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == t.Controller.UID
}

// SetCondition records a condition of the owner's current generation. The
// transition time moves only when the status does.
func (t Target) SetCondition(typ string, status metav1.ConditionStatus, reason, msg string) {
	SetCondition(t.Owner, typ, status, reason, msg)
}

// SetCondition records a condition of owner's current generation.
func SetCondition(owner Owner, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(owner.StatusConditions(), metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: owner.GetGeneration(),
	})
}

// Condition returns the owner's condition of type typ, or nil.
func Condition(owner Owner, typ string) *metav1.Condition {
	return meta.FindStatusCondition(*owner.StatusConditions(), typ)
}

// Kinds of Source.
const (
	KindSecret    = "Secret"
	KindConfigMap = "ConfigMap"
)

// Source is one object a capability hands the workload: the app container
// takes its environment from it (envFrom), and its data goes into the
// config hash that rolls the pods when it changes.
type Source struct {
	From string // the capability: "database", "storage", "auth"
	Kind string // KindSecret or KindConfigMap
	Name string
	Data map[string][]byte
}

// Key names the source for the config hash.
func (s Source) Key() string { return fmt.Sprintf("%s/%s", s.Kind, s.Name) }
