// Package v1alpha1 holds the platform.internal/v1alpha1 API: Application and
// PreviewEnvironment.
// +kubebuilder:object:generate=true
// +groupName=platform.internal
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of Plattr's resources.
	GroupVersion = schema.GroupVersion{Group: "platform.internal", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
