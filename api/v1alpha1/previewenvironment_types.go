package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PreviewEnvironmentSpec asks for a short-lived copy of an Application for one
// pull request.
type PreviewEnvironmentSpec struct {
	// ApplicationRef is the name of the parent Application, in the same
	// namespace: the preview gets the parent's capabilities and envVars and
	// is deleted with it. Until the parent exists the preview is Pending
	// (ParentNotFound).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	ApplicationRef string `json:"applicationRef"`

	// PullRequest is the pull request's number, 1 or more; it names the
	// preview's namespace preview-<app>-pr-<N> and host
	// pr-<N>.<app>.preview.<BASE_DOMAIN>.
	// +kubebuilder:validation:Minimum=1
	PullRequest int32 `json:"pullRequest"`

	// Branch of the pull request, for example feature/login. Informational;
	// at most 255 characters.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Branch string `json:"branch,omitempty"`

	// ImageRef is the pull request's image; previews never run the parent's.
	// Required, at most 1024 characters; a change rolls the preview's pods.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	ImageRef string `json:"imageRef"`

	// Database asks for data in the preview's schema. The preview gets an
	// empty schema of its own whenever the parent has a database; set
	// copyFrom to start from the parent's rows. Fixed at creation.
	// +optional
	Database *PreviewDatabaseSpec `json:"database,omitempty"`

	// TTL is how long the preview lives after creation, like 30m, 72h or 7d;
	// capped by the operator's PREVIEW_MAX_TTL. Default 72h. The preview is
	// deleted at status.expiresAt; changing ttl moves that time.
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
	// Phase summarises the preview: Pending (waiting for its parent),
	// Provisioning, Running, Failed (a refused data copy, a rollout past its
	// deadline, an invalid ttl: Ready says which) or Terminating.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// URL the preview is served at, https://pr-<N>.<app>.preview.<BASE_DOMAIN>,
	// once its workload is up.
	// +optional
	URL string `json:"url,omitempty"`
	// ExpiresAt is set once, from creationTimestamp + ttl; only a change of
	// spec.ttl moves it.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// ObservedGeneration is the metadata.generation this status describes.
	// It is written on every status write, failing ones included (the
	// kstatus convention): equal to metadata.generation means the operator
	// has seen the latest spec; the conditions say how that went.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// FailedAttempts counts consecutive failed reconciles of this generation
	// that were not a backend outage; the phase turns Failed at 3.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`
	// Conditions are the standard Kubernetes conditions: NamespaceReady,
	// DatabaseReady, DataCopied (when copyFrom is set), StorageReady,
	// AuthReady, DeploymentReady, IngressReady, and Ready, True when all of
	// them are.
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

	// Spec names the parent app, the pull request and its image.
	Spec PreviewEnvironmentSpec `json:"spec"`
	// Status is what the operator observed; written by the operator only.
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
