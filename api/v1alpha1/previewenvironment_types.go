package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PreviewEnvironmentSpec asks for a short-lived copy of an Application for one
// pull request.
type PreviewEnvironmentSpec struct {
	// ApplicationRef is the name of an Application in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	ApplicationRef string `json:"applicationRef"`

	// PullRequest is the pull request's number.
	// +kubebuilder:validation:Minimum=1
	PullRequest int32 `json:"pullRequest"`

	// Branch of the pull request.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Branch string `json:"branch,omitempty"`

	// ImageRef is the pull request's image; previews never run the parent's.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	ImageRef string `json:"imageRef"`

	// Database asks for the preview's data.
	// +optional
	Database *PreviewDatabaseSpec `json:"database,omitempty"`

	// TTL is how long the preview lives after creation, like 30m, 72h or 7d;
	// capped by the operator's PREVIEW_MAX_TTL.
	// +kubebuilder:default="72h"
	// +kubebuilder:validation:Pattern=`^\d+(m|h|d)$`
	// +optional
	TTL string `json:"ttl,omitempty"`
}

// PreviewDatabaseSpec asks for data in the preview's schema.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.database is fixed when the preview is created: its data is copied once; delete the preview and create it again to change it"
type PreviewDatabaseSpec struct {
	// CopyFrom "parent" copies the parent's tables, sequences and rows into
	// the preview's schema when the preview is created, within the size
	// the platform team allows (PREVIEW_COPY_MAX_SIZE); never from a
	// production parent unless the platform team allows it
	// (PREVIEW_COPY_FROM_PRODUCTION).
	// +kubebuilder:validation:Enum=parent
	// +optional
	CopyFrom string `json:"copyFrom,omitempty"`
}

// PreviewEnvironmentStatus is what the operator observed.
type PreviewEnvironmentStatus struct {
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// +optional
	URL string `json:"url,omitempty"`
	// ExpiresAt is set once, from creationTimestamp + ttl; only a change of
	// spec.ttl moves it.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// FailedAttempts counts consecutive failed reconciles of this generation
	// that were not a backend outage; the phase turns Failed at 3.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// PreviewEnvironment is a pull request's own environment.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=preview;previews;pe
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.applicationRef`
// +kubebuilder:printcolumn:name="PR",type=integer,JSONPath=`.spec.pullRequest`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PreviewEnvironment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PreviewEnvironmentSpec   `json:"spec"`
	Status PreviewEnvironmentStatus `json:"status,omitempty"`
}

// PreviewEnvironmentList is a list of PreviewEnvironments.
// +kubebuilder:object:root=true
type PreviewEnvironmentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PreviewEnvironment `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PreviewEnvironment{}, &PreviewEnvironmentList{})
}

// StatusConditions lets the capabilities set the preview's conditions.
func (p *PreviewEnvironment) StatusConditions() *[]metav1.Condition { return &p.Status.Conditions }
