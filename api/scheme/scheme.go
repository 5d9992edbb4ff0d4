// Package scheme builds the runtime.Scheme every Plattr client needs: the
// built-in Kubernetes types and platform.internal/v1alpha1. It lives in
// api/ so that a client (the CLI) can talk to the cluster without linking
// the operator that happens to use the same scheme.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// New returns a scheme that knows the built-in types, Plattr's and the
// Gateway API's.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	// Both only register static type lists; they fail only on a
	// programming error (a type registered twice under two names), which
	// TestNewKnowsPlattrAndBuiltinTypes catches.
	_ = clientgoscheme.AddToScheme(s)
	_ = platformv1.AddToScheme(s)
	// Gateway API (Gateway, HTTPRoute): what ApiAggregators render to.
	_ = gatewayv1.Install(s)
	return s
}
