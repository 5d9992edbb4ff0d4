package v1alpha1

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

// TestAddToSchemeRegistersEveryKind: the scheme builder registers each kind
// and its list under platform.internal/v1alpha1, and the meta types a
// client needs beside them (a scheme without them cannot decode a watch).
func TestAddToSchemeRegistersEveryKind(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"Application", "ApplicationList", "PreviewEnvironment", "PreviewEnvironmentList", "Tenant", "TenantList", "ChartSource", "ChartSourceList", "ChartVersion", "ChartVersionList", "ChartRelease", "ChartReleaseList", "WatchEvent", "ListOptions"} {
		if !s.Recognizes(GroupVersion.WithKind(kind)) {
			t.Errorf("the scheme does not know %s in %s", kind, GroupVersion)
		}
	}
	gvks, _, err := s.ObjectKinds(&Tenant{})
	if err != nil || len(gvks) != 1 || gvks[0] != GroupVersion.WithKind("Tenant") {
		t.Errorf("ObjectKinds(Tenant) = %v, %v", gvks, err)
	}
}
