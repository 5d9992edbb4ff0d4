package mirror

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Which namespaces a tenant's roles may be kept on: only those the
// operator made for this very Tenant object.
func TestNamespaceOwnership(t *testing.T) {
	shop := &platformv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "shop", UID: "uid-now"}}
	unsaved := &platformv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
	ns := func(labels map[string]string, owner types.UID) *corev1.Namespace {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop-production", Labels: labels}}
		if owner != "" {
			n.OwnerReferences = []metav1.OwnerReference{{APIVersion: platformv1.GroupVersion.String(), Kind: "Tenant", Name: "shop", UID: owner, Controller: ptr(true)}}
		}
		return n
	}
	ours := map[string]string{platformv1.LabelTenant: "shop", platformv1.LabelManagedBy: platformv1.ManagedByValue}
	for _, c := range []struct {
		name         string
		ns           *corev1.Namespace
		tenant       *platformv1.Tenant
		owned, mayBe bool
	}{
		{"made for this Tenant", ns(ours, "uid-now"), shop, true, true},
		{"a shared namespace, no labels", ns(nil, ""), shop, false, false},
		{"labelled for another tenant", ns(map[string]string{platformv1.LabelTenant: "other", platformv1.LabelManagedBy: platformv1.ManagedByValue}, "uid-now"), shop, false, false},
		{"labelled but not Plattr's", ns(map[string]string{platformv1.LabelTenant: "shop"}, ""), shop, false, false},
		{"an earlier Tenant of the same name", ns(ours, "uid-before"), shop, false, false},
		{"labelled, no owner yet", ns(ours, ""), shop, false, true},
		{"a Tenant not yet created, earlier one's namespace going", ns(ours, "uid-before"), unsaved, false, true},
	} {
		if got := NamespaceOwnedBy(c.ns, c.tenant); got != c.owned {
			t.Errorf("%s: owned = %v, want %v", c.name, got, c.owned)
		}
		if got := NamespaceMayBeTenants(c.ns, c.tenant); got != c.mayBe {
			t.Errorf("%s: may be the tenant's = %v, want %v", c.name, got, c.mayBe)
		}
	}
}

func ptr[T any](v T) *T { return &v }
