package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ApiAggregatorProtocol is the protocol of the Gateway listener an
// ApiAggregator owns.
// +kubebuilder:validation:Enum=HTTP;HTTPS
type ApiAggregatorProtocol string

// Listener protocols.
const (
	ApiAggregatorHTTP  ApiAggregatorProtocol = "HTTP"
	ApiAggregatorHTTPS ApiAggregatorProtocol = "HTTPS"
)

// ApiAggregatorGateway is the Gateway an ApiAggregator creates and owns,
// named after the aggregator in the platform namespace.
// +kubebuilder:validation:XValidation:rule="self.protocol != 'HTTPS' || (has(self.tlsSecretName) && size(self.tlsSecretName) > 0)",message="spec.gateway.tlsSecretName is required when spec.gateway.protocol is HTTPS: name the Secret (in the platform namespace) holding the host's certificate"
type ApiAggregatorGateway struct {
	// ClassName is the GatewayClass of the Gateway (the data plane that
	// serves it, for example traefik); default plattr.
	// +kubebuilder:default=plattr
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	ClassName string `json:"className,omitempty"`
	// Port the listener accepts on, 1-65535; default 80.
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`
	// Protocol of the listener: HTTP (the default) or HTTPS (terminating
	// TLS with tlsSecretName).
	// +kubebuilder:default=HTTP
	// +optional
	Protocol ApiAggregatorProtocol `json:"protocol,omitempty"`
	// TLSSecretName names the kubernetes.io/tls Secret, in the platform
	// namespace, with the hostname's certificate; required for HTTPS.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	TLSSecretName string `json:"tlsSecretName,omitempty"`
}

// ApiAggregatorSpec declares one public API hostname that teams attach
// paths to with ApiAggregatorTargets.
type ApiAggregatorSpec struct {
	// Hostname every attached path is served on, for example
	// api.example.com: an exact DNS name, no wildcard, at most 253
	// characters. Of two aggregators with one hostname the older owns it;
	// an Application's spec.domain cannot take it.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$`
	Hostname string `json:"hostname"`
	// Gateway is the Gateway the aggregator creates and owns (its class and
	// listener); the defaults make a plain HTTP listener on port 80.
	// +optional
	Gateway ApiAggregatorGateway `json:"gateway,omitempty"`
	// NamespaceSelector selects the namespaces whose ApiAggregatorTargets
	// may attach; {} selects every namespace, and leaving it out selects
	// none (a target elsewhere is NotAllowed).
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// ReservedPaths are path prefixes no target may claim (the platform's
	// own, such as /admin), each starting with '/', at most 32. /preview/ is
	// always reserved: only previews get paths under it,
	// /preview/<app>/pr-<N>/.
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=1024
	// +kubebuilder:validation:items:Pattern=`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`
	// +optional
	ReservedPaths []string `json:"reservedPaths,omitempty"`
}

// ApiConflict is one path a target claimed and did not get.
type ApiConflict struct {
	// Path claimed, as the target wrote it.
	Path string `json:"path"`
	// PathType of the claim: PathPrefix or Exact.
	PathType ApiPathType `json:"pathType"`
	// Claimant is the target that did not get the path, <namespace>/<name>.
	Claimant string `json:"claimant"`
	// Owner is who holds the path: a target, <namespace>/<name>, or
	// "reserved" for a reserved path.
	Owner string `json:"owner"`
}

// MaxAggregatorConflicts bounds status.conflicts of an ApiAggregator.
const MaxAggregatorConflicts = 20

// ApiAggregatorStatus is what the operator observed.
type ApiAggregatorStatus struct {
	// Phase is Provisioning, Running (Accepted and the Gateway applied) or
	// Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// GatewayName is the Gateway the aggregator owns, in its namespace.
	// +optional
	GatewayName string `json:"gatewayName,omitempty"`
	// AttachedTargets counts the accepted ApiAggregatorTargets.
	// +optional
	AttachedTargets int32 `json:"attachedTargets,omitempty"`
	// ActiveRoutes counts the paths served, across every target.
	// +optional
	ActiveRoutes int32 `json:"activeRoutes,omitempty"`
	// Conflicts are the paths claimed and lost, at most 20 (the first, by
	// claimant); ConflictCount counts all of them.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Conflicts []ApiConflict `json:"conflicts,omitempty"`
	// ConflictCount counts every lost claim, listed or not.
	// +optional
	ConflictCount int32 `json:"conflictCount,omitempty"`
	// ObservedGeneration is the metadata.generation this status describes,
	// written on every status write (the kstatus convention).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Accepted (the hostname is this aggregator's and it is in
	// the platform namespace), Programmed (copied from the Gateway's own
	// status: Plattr never claims the data plane is programmed), Ready,
	// and the kstatus Reconciling and Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ApiAggregator is one API hostname aggregated from many teams' paths,
// rendered as a Gateway API Gateway. Honoured only in the platform
// namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=apiagg
// +kubebuilder:printcolumn:name="Hostname",type=string,JSONPath=`.spec.hostname`
// +kubebuilder:printcolumn:name="Targets",type=integer,JSONPath=`.status.attachedTargets`
// +kubebuilder:printcolumn:name="Routes",type=integer,JSONPath=`.status.activeRoutes`
// +kubebuilder:printcolumn:name="Conflicts",type=integer,JSONPath=`.status.conflictCount`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$')",message="metadata.name must be a lowercase DNS label of at most 40 characters, starting with a letter (it names the Gateway and a namespace label)"
type ApiAggregator struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the hostname, its Gateway and who may attach.
	Spec ApiAggregatorSpec `json:"spec"`
	// Status is what the operator observed; written by the operator only.
	Status ApiAggregatorStatus `json:"status,omitempty"`
}

// ApiAggregatorList is a list of ApiAggregators.
// +kubebuilder:object:root=true
type ApiAggregatorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ApiAggregator `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ApiAggregator{}, &ApiAggregatorList{})
}

// StatusConditions lets shared helpers set the aggregator's conditions.
func (a *ApiAggregator) StatusConditions() *[]metav1.Condition { return &a.Status.Conditions }

// CommonStatus points into the aggregator's status; it counts no attempts.
func (a *ApiAggregator) CommonStatus() CommonStatus {
	s := &a.Status
	return CommonStatus{Phase: &s.Phase, ObservedGeneration: &s.ObservedGeneration, Conditions: &s.Conditions}
}
