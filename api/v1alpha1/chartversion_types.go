package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChartGit is where a chart was built from: the Chart.yaml annotations
// platz.io/git/commit, branch, repo and provider.
type ChartGit struct {
	// Commit is the annotation platz.io/git/commit.
	// +optional
	Commit string `json:"commit,omitempty"`
	// Branch is the annotation platz.io/git/branch.
	// +optional
	Branch string `json:"branch,omitempty"`
	// Repo is the annotation platz.io/git/repo, a URL.
	// +optional
	Repo string `json:"repo,omitempty"`
	// Provider is the annotation platz.io/git/provider, for example github.
	// +optional
	Provider string `json:"provider,omitempty"`
}

// ChartVersionSpec is one chart version as its source serves it. The
// operator writes it once per digest; nothing else writes it.
type ChartVersionSpec struct {
	// Source is the ChartSource the version was found in.
	Source string `json:"source"`
	// Registry is the OCI registry's host (OCI sources) or the Helm
	// repository's URL.
	Registry string `json:"registry"`
	// Repository is the chart's repository in the registry, for example
	// charts/redis; for a Helm repository, the chart's name.
	Repository string `json:"repository"`
	// Chart is the chart's name (Chart.yaml name).
	Chart string `json:"chart"`
	// Version is the chart's version (Chart.yaml version; the OCI tag).
	Version string `json:"version"`
	// Digest identifies the chart's content: the OCI manifest's digest, or
	// the sha256 of a Helm repository's archive (index.yaml digest).
	Digest string `json:"digest"`
	// AppVersion is Chart.yaml appVersion.
	// +optional
	AppVersion string `json:"appVersion,omitempty"`
	// URL is where the chart's archive is pulled from (Helm repositories).
	// +optional
	URL string `json:"url,omitempty"`
	// Size is the packaged chart's size in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`
	// Git is where the chart was built from (platz.io/git/* annotations).
	// +optional
	Git *ChartGit `json:"git,omitempty"`
	// Created is when the chart version was first seen.
	// +optional
	Created *metav1.Time `json:"created,omitempty"`
}

// ChartVersionStatus is the chart's Platz extensions as parsed.
type ChartVersionStatus struct {
	// Format says which extension files were read and at which version,
	// for example "platz/ (platz.io/v1beta2)" or "root (v0)"; empty when
	// the chart has none.
	// +optional
	Format string `json:"format,omitempty"`
	// Extensions is the parsed values UI schema (inputs, outputs, secret
	// outputs), actions and features, in the one shape every extension
	// version is normalized to (internal/charts/ext.Extensions).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	Extensions *apiextensionsv1.JSON `json:"extensions,omitempty"`
	// Error is why the chart cannot be installed: an extension file that
	// does not parse (naming the file), or a chart over the source's size
	// cap. Empty when it can.
	// +optional
	Error string `json:"error,omitempty"`
}

// ChartVersion is one version of a discovered chart, recorded once per
// digest (its name is a hash of source, repository and digest), with its
// Platz extensions or the error parsing them. Cluster-scoped: every team
// may install it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Chart",type=string,JSONPath=`.spec.chart`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.appVersion`
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.spec.source`
// +kubebuilder:printcolumn:name="Error",type=string,JSONPath=`.status.error`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChartVersion struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the version as its source serves it.
	Spec ChartVersionSpec `json:"spec"`
	// Status is its extensions as parsed, or the error.
	Status ChartVersionStatus `json:"status,omitempty"`
}

// ChartVersionList is a list of ChartVersions.
// +kubebuilder:object:root=true
type ChartVersionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChartVersion `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ChartVersion{}, &ChartVersionList{})
}
