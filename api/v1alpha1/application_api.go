package v1alpha1

// ApplicationAPI asks for the app's paths on a shared API hostname (an
// ApiAggregator): Plattr creates the app's ApiAggregatorTarget, named after
// the app, pointing at the app's Service.
type ApplicationAPI struct {
	// Aggregator names the ApiAggregator, in the platform namespace; the
	// local stack's is public (api.<BASE_DOMAIN>).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Aggregator string `json:"aggregator"`
	// Routes are the app's paths, 1 to 50. A preview's paths are served
	// under /preview/<app>/pr-<N>/ on the same host.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	// +listType=map
	// +listMapKey=path
	// +listMapKey=pathType
	Routes []ApplicationAPIRoute `json:"routes"`
}

// ApplicationAPIRoute is one path of the app on the aggregator's host.
// +kubebuilder:validation:XValidation:rule="!self.path.contains('//') && !self.path.matches('/\\\\.\\\\.?(/|$)')",message="path must not contain '//', '/./' or '/../': write the path in its normal form, for example /orders/v1"
type ApplicationAPIRoute struct {
	// Path on the aggregator's hostname, starting with '/', for example
	// /orders; at most 1000 characters.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1000
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`
	Path string `json:"path"`
	// PathType is PathPrefix (the default) or Exact.
	// +kubebuilder:default=PathPrefix
	// +optional
	PathType ApiPathType `json:"pathType,omitempty"`
	// Port is the app's container port the path goes to: spec.port (the
	// default) or 3001, PostgREST's (with spec.database.enabled). Plattr
	// maps it to the Service's port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`
}
