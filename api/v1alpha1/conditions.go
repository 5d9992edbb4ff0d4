package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The conditions GitOps tools read (kstatus, sigs.k8s.io/cli-utils: Flux,
// kpt, Config Sync). Every Plattr kind writes them, with
// status.observedGeneration on every status write:
//
//   - Reconciling=True while work is in flight (Provisioning, Terminating,
//     a backend outage being waited out): kstatus InProgress.
//   - Stalled=True when the object cannot progress without a change (Pending
//     without imageRef, Failed): kstatus Failed.
//   - neither when Running: kstatus Current.
const (
	// ConditionReconciling: the operator is working on the object.
	ConditionReconciling = "Reconciling"
	// ConditionStalled: the object cannot progress until its owner changes
	// something; the reason is the failing one.
	ConditionStalled = "Stalled"
)

// Reasons of Reconciling and Stalled beyond those of the capabilities.
const (
	// ReasonBackendUnavailable: a platform backend (PostgreSQL, the object
	// store, the identity provider) cannot be reached or answered 5xx. Not
	// the owner's failure: it does not count toward failedAttempts, and the
	// object is retried the moment the backend answers.
	ReasonBackendUnavailable = "BackendUnavailable"
	// ReasonProvisioning: the children are being created or rolled out.
	ReasonProvisioning = "Provisioning"
	// ReasonTerminating: the object is being deleted and cleaned up.
	ReasonTerminating = "Terminating"
	// ReasonRetrying: a reconcile failed and is retried with backoff.
	ReasonRetrying = "Retrying"
)

// MaxFailedAttempts failed reconciles of one generation, for reasons other
// than a backend outage, turn the phase Failed.
const MaxFailedAttempts = 3

// CommonStatus points into the status fields every Plattr kind shares, so
// that one controller kit derives them for every kind.
// +kubebuilder:object:generate=false
type CommonStatus struct {
	Phase              *Phase
	ObservedGeneration *int64
	// FailedAttempts is nil for a kind that does not count attempts.
	FailedAttempts *int32
	Conditions     *[]metav1.Condition
}

// CommonStatus points into the Application's status.
func (a *Application) CommonStatus() CommonStatus {
	s := &a.Status
	return CommonStatus{Phase: &s.Phase, ObservedGeneration: &s.ObservedGeneration, FailedAttempts: &s.FailedAttempts, Conditions: &s.Conditions}
}

// CommonStatus points into the PreviewEnvironment's status.
func (p *PreviewEnvironment) CommonStatus() CommonStatus {
	s := &p.Status
	return CommonStatus{Phase: &s.Phase, ObservedGeneration: &s.ObservedGeneration, FailedAttempts: &s.FailedAttempts, Conditions: &s.Conditions}
}

// CommonStatus points into the Tenant's status; a Tenant counts no attempts.
func (t *Tenant) CommonStatus() CommonStatus {
	s := &t.Status
	return CommonStatus{Phase: &s.Phase, ObservedGeneration: &s.ObservedGeneration, Conditions: &s.Conditions}
}

// Shared by the promises' kinds (Gateway API's own names).
const (
	// ConditionAccepted: the object's references and its namespace's rights
	// hold. An ApiAggregator owns its hostname; an ApiAggregatorTarget's
	// aggregator exists and lets its namespace attach; a NatsUser's
	// namespace and subjects lie inside its account's selector and subject
	// space.
	ConditionAccepted = "Accepted"
	// ReasonNotAllowed: the namespace is outside the selector of the object
	// it refers to (an aggregator's, an account's), or a NatsUser asks for
	// a subject outside its namespace's space; the message names which.
	ReasonNotAllowed = "NotAllowed"
)
