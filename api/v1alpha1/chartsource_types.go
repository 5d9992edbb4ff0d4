package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChartSourceOCI is an OCI registry holding Helm charts.
type ChartSourceOCI struct {
	// Registry is the registry's host and port, for example
	// registry.example.com or 127.0.0.1:5000 — no scheme, no path.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?$`
	Registry string `json:"registry"`
	// Repositories lists the repositories to scan, for example
	// charts/redis, for a registry without a catalog (/v2/_catalog). Empty:
	// every repository the catalog lists. At most 500.
	// +listType=set
	// +kubebuilder:validation:MaxItems=500
	// +kubebuilder:validation:items:MaxLength=255
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]+([._/-][a-z0-9]+)*$`
	// +optional
	Repositories []string `json:"repositories,omitempty"`
	// Prefix keeps only the catalog's repositories under it, for example
	// charts (which keeps charts/redis, not images/redis). Empty: all.
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^([a-z0-9]+([._/-][a-z0-9]+)*)?$`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// PlainHTTP speaks HTTP instead of HTTPS to the registry: only for a
	// registry on a loopback or cluster-internal address, such as the local
	// stack's.
	// +optional
	PlainHTTP bool `json:"plainHTTP,omitempty"`
}

// ChartSourceHelm is a classic Helm repository serving index.yaml.
type ChartSourceHelm struct {
	// URL of the repository, the address index.yaml is under, for example
	// https://charts.example.com/stable. http:// only for loopback
	// addresses.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	URL string `json:"url"`
}

// ChartSourceTrust lets a source's charts create what a tenant may not:
// cluster-scoped objects and objects in other namespaces. Its charts are
// installed as ServiceAccount, never as the operator, and only into the
// namespaces NamespaceSelector selects.
type ChartSourceTrust struct {
	// ServiceAccount is the platform ServiceAccount, in the platform
	// namespace, that the source's releases are installed as. The platform
	// team grants it what the charts need.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	ServiceAccount string `json:"serviceAccount"`
	// NamespaceSelector selects the namespaces (by their labels) that
	// releases of the source's charts may be installed into; a release in
	// any other namespace is refused.
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`
}

// ChartSourceSpec says where charts are discovered.
// +kubebuilder:validation:XValidation:rule="has(self.oci) != has(self.helm)",message="set exactly one of spec.oci (an OCI registry) and spec.helm (a Helm repository with index.yaml)"
type ChartSourceSpec struct {
	// OCI is an OCI registry whose Helm charts (artifacts of config media
	// type application/vnd.cncf.helm.config.v1+json) are discovered; other
	// artifacts are ignored.
	// +optional
	OCI *ChartSourceOCI `json:"oci,omitempty"`
	// Helm is a classic Helm repository (index.yaml).
	// +optional
	Helm *ChartSourceHelm `json:"helm,omitempty"`
	// SecretRef names a Secret in the platform namespace with the keys
	// username and password, sent as basic credentials (a registry's token
	// service gets them as well). Empty: anonymous.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$`
	// +optional
	SecretRef string `json:"secretRef,omitempty"`
	// Interval between scans, for example 5m (the default) or 10s; at
	// least 5s. A scan is also made at once when the annotation
	// platform.internal/scan-requested-at changes.
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5s')",message="spec.interval must be at least 5s"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
	// MaxChartSize caps a chart's packaged size; a larger one is recorded
	// as a ChartVersion with the error and is never installed. Default
	// 10Mi, at most 100Mi.
	// +kubebuilder:default="10Mi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).compareTo(quantity('100Mi')) <= 0",message="spec.maxChartSize must be at most 100Mi"
	// +optional
	MaxChartSize *resource.Quantity `json:"maxChartSize,omitempty"`
	// Trusted lets the source's charts create cluster-scoped objects and
	// objects in other namespaces, installed as a platform ServiceAccount
	// into selected namespaces only. Unset (the default): a release renders
	// objects of its own namespace only, installed as the namespace's
	// plattr-release ServiceAccount.
	// +optional
	Trusted *ChartSourceTrust `json:"trusted,omitempty"`
}

// ChartSourceStatus is what the operator observed.
type ChartSourceStatus struct {
	// Phase is Provisioning (first scan in flight or being retried),
	// Running (the last scan succeeded) or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// ObservedGeneration is the metadata.generation this status describes,
	// written on every status write.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// FailedAttempts counts the failed scans of the current generation.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`
	// LastScanTime is when the last successful scan finished. It is
	// written only when the scan found something new, so an unchanged
	// registry costs no write.
	// +optional
	LastScanTime *metav1.Time `json:"lastScanTime,omitempty"`
	// Charts is how many chart versions the source holds (ChartVersions
	// labelled with it).
	// +optional
	Charts int32 `json:"charts,omitempty"`
	// ScanRequestedAt is the value of the scan-requested-at annotation the
	// last scan answered.
	// +optional
	ScanRequestedAt string `json:"scanRequestedAt,omitempty"`
	// ETag is the Helm repository's index.yaml ETag at the last scan; an
	// unchanged index is not read again.
	// +optional
	ETag string `json:"etag,omitempty"`
	// Conditions: Ready (the last scan succeeded) and the kstatus
	// conditions Reconciling and Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ChartSource is a registry or Helm repository the platform discovers
// charts in. Cluster-scoped and written by the platform team only, so no
// tenant can make the operator fetch an address of its choosing.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Registry",type=string,JSONPath=`.spec.oci.registry`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.helm.url`
// +kubebuilder:printcolumn:name="Charts",type=integer,JSONPath=`.status.charts`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChartSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is where and how often charts are discovered.
	Spec ChartSourceSpec `json:"spec"`
	// Status is what the operator observed; written by the operator only.
	Status ChartSourceStatus `json:"status,omitempty"`
}

// ChartSourceList is a list of ChartSources.
// +kubebuilder:object:root=true
type ChartSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChartSource `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ChartSource{}, &ChartSourceList{})
}

// StatusConditions lets shared helpers set the source's conditions.
func (s *ChartSource) StatusConditions() *[]metav1.Condition { return &s.Status.Conditions }

// CommonStatus points into the ChartSource's status.
func (s *ChartSource) CommonStatus() CommonStatus {
	st := &s.Status
	return CommonStatus{Phase: &st.Phase, ObservedGeneration: &st.ObservedGeneration, FailedAttempts: &st.FailedAttempts, Conditions: &st.Conditions}
}
