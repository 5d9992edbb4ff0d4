package v1alpha1

import "testing"

// A tenant label counts only on a namespace Plattr manages: anyone allowed
// to label a namespace must not make it a tenant's (the CLI and the
// operator both ask this function).
func TestTenantOfNamespace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"managed, tenant's", map[string]string{LabelManagedBy: ManagedByValue, LabelTenant: "acme"}, "acme"},
		{"managed, shared", map[string]string{LabelManagedBy: ManagedByValue}, ""},
		{"someone else's with a tenant label", map[string]string{LabelTenant: "acme"}, ""},
		{"managed by another tool", map[string]string{LabelManagedBy: "helm", LabelTenant: "acme"}, ""},
		{"no labels", nil, ""},
	} {
		if got := TenantOfNamespace(tc.labels); got != tc.want {
			t.Errorf("%s: TenantOfNamespace(%v) = %q, want %q", tc.name, tc.labels, got, tc.want)
		}
	}
}
