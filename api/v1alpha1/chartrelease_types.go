package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChartRef picks the chart version a release installs.
type ChartRef struct {
	// Source is the ChartSource the chart is discovered in.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Source string `json:"source"`
	// Repository is the chart's repository in the source, for example
	// charts/redis (a Helm repository: the chart's name).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[a-z0-9]+([._/-][a-z0-9]+)*$`
	Repository string `json:"repository"`
	// Version is the chart version, for example 1.4.2. Empty: the newest
	// version discovered (semantic-version order), followed as new ones
	// appear.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Version string `json:"version,omitempty"`
	// Digest pins the version's content, for example sha256:… ; a version
	// re-pushed with other content is then not followed.
	// +kubebuilder:validation:MaxLength=80
	// +kubebuilder:validation:Pattern=`^(sha256:[a-f0-9]{64})?$`
	// +optional
	Digest string `json:"digest,omitempty"`
}

// SecretKeyRef points at one key of a Secret in the release's namespace.
type SecretKeyRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// ChartInputSource is where an input's value comes from other than
// spec.inputs[].value.
type ChartInputSource struct {
	// SecretKeyRef reads the value from a Secret of the release's
	// namespace: the only way to give a sensitive input.
	SecretKeyRef *SecretKeyRef `json:"secretKeyRef,omitempty"`
}

// ChartInput is the value of one input of the chart's values UI schema.
// Exactly one of Value and ValueFrom is set (the operator checks: a
// schemaless value is out of CEL's reach).
type ChartInput struct {
	// Name is the input's id in the values UI schema.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
	// Value is the input's value: a string, number, boolean, list or
	// object, as the input's type asks. Not for sensitive inputs.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +optional
	Value *apiextensionsv1.JSON `json:"value,omitempty"`
	// ValueFrom reads the value from a Secret (sensitive inputs).
	// +optional
	ValueFrom *ChartInputSource `json:"valueFrom,omitempty"`
}

// ChartReleaseSpec asks for a chart installed as a Helm release named
// after the ChartRelease, in its namespace.
type ChartReleaseSpec struct {
	// Chart is the chart version to install.
	Chart ChartRef `json:"chart"`
	// Inputs are the values of the chart's values UI schema inputs,
	// checked against it: a required input missing, an unknown one, a
	// value of the wrong type or out of range is refused (InputsValid
	// False naming the input). At most 200.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=200
	// +optional
	Inputs []ChartInput `json:"inputs,omitempty"`
	// Values is a raw override merged over the values the inputs make
	// (Helm's --values), for the roles allowed to write it.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Values *apiextensionsv1.JSON `json:"values,omitempty"`
	// Enabled: false uninstalls the Helm release and keeps this object
	// (and its history); true (the default) installs it.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// RollbackTo, when set, rolls the release back to this Helm revision
	// once (Helm makes a new revision with that revision's chart and
	// values) and holds it there: while it is set, changes to chart,
	// inputs and values do not upgrade. Clear it to upgrade again.
	// +kubebuilder:validation:Minimum=1
	// +optional
	RollbackTo *int32 `json:"rollbackTo,omitempty"`
}

// ChartReleaseRevision is one Helm revision of the release.
type ChartReleaseRevision struct {
	// Revision is Helm's revision number, 1 for the install.
	Revision int32 `json:"revision"`
	// Chart is the chart's name and version, for example redis-1.4.2.
	Chart string `json:"chart"`
	// AppVersion is the chart's appVersion.
	// +optional
	AppVersion string `json:"appVersion,omitempty"`
	// ChartDigest is the digest of the chart version installed.
	// +optional
	ChartDigest string `json:"chartDigest,omitempty"`
	// ValuesDigest is the sha256 of the values the revision was made with.
	// +optional
	ValuesDigest string `json:"valuesDigest,omitempty"`
	// Status is Helm's status of the revision: deployed, superseded,
	// failed, pending-install, pending-upgrade, pending-rollback,
	// uninstalling or uninstalled.
	Status string `json:"status"`
	// Description is Helm's description, for example "Upgrade complete".
	// +optional
	Description string `json:"description,omitempty"`
	// FirstDeployed is when the release was first installed.
	// +optional
	FirstDeployed *metav1.Time `json:"firstDeployed,omitempty"`
	// LastDeployed is when this revision was made.
	// +optional
	LastDeployed *metav1.Time `json:"lastDeployed,omitempty"`
}

// ChartReleaseStatus is what the operator observed.
type ChartReleaseStatus struct {
	// Phase is Pending (the chart version is not discovered yet),
	// Provisioning, Running (installed and every object ready), Failed or
	// Terminating.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// ObservedGeneration is the metadata.generation this status describes,
	// written on every status write.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// FailedAttempts counts the failed reconciles of the current
	// generation; at 3 the phase is Failed.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`
	// ChartVersion is the ChartVersion object the release installs.
	// +optional
	ChartVersion string `json:"chartVersion,omitempty"`
	// Revision is the Helm revision deployed.
	// +optional
	Revision int32 `json:"revision,omitempty"`
	// ChartDigest is the digest of the chart of the deployed revision; an
	// upgrade runs only when it or ValuesDigest changes.
	// +optional
	ChartDigest string `json:"chartDigest,omitempty"`
	// ValuesDigest is the sha256 of the values of the deployed revision.
	// +optional
	ValuesDigest string `json:"valuesDigest,omitempty"`
	// History is the last 10 Helm revisions, newest first.
	// +kubebuilder:validation:MaxItems=10
	// +optional
	History []ChartReleaseRevision `json:"history,omitempty"`
	// IngressHost is the host the injected ingress serves (charts with the
	// standard ingress feature).
	// +optional
	IngressHost string `json:"ingressHost,omitempty"`
	// Reported is what the chart's status endpoint last reported (Platz's
	// status shape), for charts with the status feature.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Reported *apiextensionsv1.JSON `json:"reported,omitempty"`
	// Conditions: InputsValid (the inputs fit the chart's values UI
	// schema), Released (the Helm release is at the wanted chart and
	// values), Remediated (a failed operation was undone: a pending
	// release unlocked, a failed upgrade rolled back), Ready, and the
	// kstatus conditions Reconciling and Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ChartRelease is a chart installed as a Helm release in its namespace,
// reconciled by the operator with the Helm SDK under the namespace's
// plattr-release ServiceAccount.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=crel
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]{0,51}[a-z0-9])?$')",message="metadata.name must be a lowercase DNS label of at most 53 characters starting with a letter (it names the Helm release)"
// +kubebuilder:printcolumn:name="Chart",type=string,JSONPath=`.spec.chart.repository`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.chart.version`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.status.revision`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChartRelease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the chart, its inputs and values.
	Spec ChartReleaseSpec `json:"spec"`
	// Status is what the operator observed; written by the operator only.
	Status ChartReleaseStatus `json:"status,omitempty"`
}

// ChartReleaseList is a list of ChartReleases.
// +kubebuilder:object:root=true
type ChartReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChartRelease `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ChartRelease{}, &ChartReleaseList{})
}

// StatusConditions lets shared helpers set the release's conditions.
func (r *ChartRelease) StatusConditions() *[]metav1.Condition { return &r.Status.Conditions }

// CommonStatus points into the ChartRelease's status.
func (r *ChartRelease) CommonStatus() CommonStatus {
	st := &r.Status
	return CommonStatus{Phase: &st.Phase, ObservedGeneration: &st.ObservedGeneration, FailedAttempts: &st.FailedAttempts, Conditions: &st.Conditions}
}

// IsEnabled: the release is to be installed.
func (r *ChartRelease) IsEnabled() bool { return r.Spec.Enabled == nil || *r.Spec.Enabled }
