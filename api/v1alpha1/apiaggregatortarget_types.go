package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ApiPathType is how a path matches: PathPrefix (the path and everything
// under it, element by element) or Exact.
// +kubebuilder:validation:Enum=PathPrefix;Exact
type ApiPathType string

// Path types, as Gateway API names them.
const (
	ApiPathPrefix ApiPathType = "PathPrefix"
	ApiPathExact  ApiPathType = "Exact"
)

// ApiRouteService is the Service a path goes to, in the target's own
// namespace.
type ApiRouteService struct {
	// Name of the Service, in the target's namespace. An ExternalName
	// Service or one without a selector (whose endpoints are written by
	// hand) is refused: BackendNotAllowed.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// Port is the Service's port number, 1-65535.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// ApiRoute is one path of a target.
// +kubebuilder:validation:XValidation:rule="!self.path.contains('//') && !self.path.matches('/\\\\.\\\\.?(/|$)')",message="path must not contain '//', '/./' or '/../': write the path in its normal form, for example /orders/v1"
// +kubebuilder:validation:XValidation:rule="!has(self.rewritePrefix) || self.pathType == 'PathPrefix'",message="rewritePrefix needs pathType PathPrefix (an Exact path has no prefix to replace)"
type ApiRoute struct {
	// Path on the aggregator's hostname, starting with '/', for example
	// /orders; at most 1024 characters of the URL path alphabet. Under
	// /preview/ only a preview's own /preview/<app>/pr-<N>/ is allowed.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`
	Path string `json:"path"`
	// PathType is PathPrefix (the default: the path and what is under it)
	// or Exact.
	// +kubebuilder:default=PathPrefix
	// +optional
	PathType ApiPathType `json:"pathType,omitempty"`
	// Service the requests go to, in this namespace.
	Service ApiRouteService `json:"service"`
	// RewritePrefix replaces the matched prefix before the request reaches
	// the Service (for example /orders → /); PathPrefix only.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`
	// +optional
	RewritePrefix string `json:"rewritePrefix,omitempty"`
}

// ApiAggregatorTargetSpec attaches paths to an ApiAggregator.
type ApiAggregatorTargetSpec struct {
	// AggregatorRef names the ApiAggregator, in the platform namespace, the
	// paths attach to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	AggregatorRef string `json:"aggregatorRef"`
	// Routes are the paths and the Services they go to, 1 to 200.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=200
	// +listType=map
	// +listMapKey=path
	// +listMapKey=pathType
	Routes []ApiRoute `json:"routes"`
}

// ApiRouteState is what became of one claimed path.
// +kubebuilder:validation:Enum=Active;Conflicted;Invalid
type ApiRouteState string

// Route states.
const (
	// ApiRouteActive: the path is this target's and is rendered.
	ApiRouteActive ApiRouteState = "Active"
	// ApiRouteConflicted: another target (or a reserved prefix) owns the
	// path or a prefix of it; only this path is dropped.
	ApiRouteConflicted ApiRouteState = "Conflicted"
	// ApiRouteInvalid: the path or its backend cannot be used (see the
	// message).
	ApiRouteInvalid ApiRouteState = "Invalid"
)

// ApiRouteStatus is one claimed path's state.
type ApiRouteStatus struct {
	// Path as claimed.
	Path string `json:"path"`
	// PathType as claimed.
	PathType ApiPathType `json:"pathType"`
	// State: Active, Conflicted (Owner holds it) or Invalid (Message says
	// why).
	State ApiRouteState `json:"state"`
	// ClaimedAt is when this target first claimed the path; the earliest
	// claim owns it, so editing a target does not make its new paths old.
	// +optional
	ClaimedAt *metav1.Time `json:"claimedAt,omitempty"`
	// Owner of a Conflicted path: the target <namespace>/<name> holding it
	// (or "reserved").
	// +optional
	Owner string `json:"owner,omitempty"`
	// OwnerSince is when the Owner claimed it.
	// +optional
	OwnerSince *metav1.Time `json:"ownerSince,omitempty"`
	// Message says what to do about a path that is not Active.
	// +optional
	Message string `json:"message,omitempty"`
}

// ApiAggregatorTargetStatus is what the operator observed.
type ApiAggregatorTargetStatus struct {
	// Phase is Provisioning, Running or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// Hostname the paths are served on (the aggregator's).
	// +optional
	Hostname string `json:"hostname,omitempty"`
	// Routes are the claimed paths and their state, in spec order.
	// +optional
	Routes []ApiRouteStatus `json:"routes,omitempty"`
	// HTTPRoutes names the HTTPRoutes rendered in this namespace,
	// <target>-<n>.
	// +optional
	HTTPRoutes []string `json:"httpRoutes,omitempty"`
	// ObservedGeneration is the metadata.generation this status describes,
	// written on every status write (the kstatus convention).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Accepted (False: AggregatorNotFound, NotAllowed,
	// InvalidPath), Conflicted (True when any path lost), ResolvedRefs
	// (False: BackendNotFound, BackendNotAllowed), Programmed (from the
	// HTTPRoutes' status.parents for the aggregator's Gateway), Ready, and
	// the kstatus Reconciling and Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ApiAggregatorTarget attaches a team's paths, each to a Service in its
// namespace, to an ApiAggregator's hostname. Plattr decides path conflicts
// before rendering HTTPRoutes: the first claimant of a path owns it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=apitarget
// +kubebuilder:printcolumn:name="Aggregator",type=string,JSONPath=`.spec.aggregatorRef`
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.status.hostname`
// +kubebuilder:printcolumn:name="Conflicted",type=string,JSONPath=`.status.conditions[?(@.type=="Conflicted")].status`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]{0,48}[a-z0-9])?$')",message="metadata.name must be a lowercase DNS label of at most 50 characters, starting with a letter (it names the HTTPRoutes <name>-<n>)"
type ApiAggregatorTarget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the aggregator and the paths.
	Spec ApiAggregatorTargetSpec `json:"spec"`
	// Status is what the operator observed; written by the operator only.
	Status ApiAggregatorTargetStatus `json:"status,omitempty"`
}

// ApiAggregatorTargetList is a list of ApiAggregatorTargets.
// +kubebuilder:object:root=true
type ApiAggregatorTargetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ApiAggregatorTarget `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ApiAggregatorTarget{}, &ApiAggregatorTargetList{})
}

// StatusConditions lets shared helpers set the target's conditions.
func (t *ApiAggregatorTarget) StatusConditions() *[]metav1.Condition { return &t.Status.Conditions }

// CommonStatus points into the target's status; it counts no attempts.
func (t *ApiAggregatorTarget) CommonStatus() CommonStatus {
	s := &t.Status
	return CommonStatus{Phase: &s.Phase, ObservedGeneration: &s.ObservedGeneration, Conditions: &s.Conditions}
}
