// Package v1alpha1 holds the platform.internal/v1alpha1 API: Application,
// PreviewEnvironment and Tenant.
// +kubebuilder:object:generate=true
// +groupName=platform.internal
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of Plattr's resources.
	GroupVersion = schema.GroupVersion{Group: "platform.internal", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &schemeBuilder{}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// schemeBuilder is what controller-runtime's deprecated scheme.Builder
// did, on apimachinery alone: an API package should need nothing more, so
// clients (the CLI) import it without controller-runtime.
type schemeBuilder struct{ funcs runtime.SchemeBuilder }

// Register adds objects of GroupVersion to the schemes built later.
func (b *schemeBuilder) Register(objects ...runtime.Object) {
	b.funcs.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, objects...)
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})
}

// AddToScheme adds every registered type to s.
func (b *schemeBuilder) AddToScheme(s *runtime.Scheme) error { return b.funcs.AddToScheme(s) }
