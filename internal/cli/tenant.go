package cli

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// tenantOf is the tenant owning namespace, "" for a shared namespace or
// one the user may not read (the names shown are then the shared ones,
// and the checks that use them say what they could not find).
func tenantOf(ctx context.Context, c client.Reader, namespace string) string {
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return ""
	}
	return platformv1.TenantOfNamespace(ns.Labels)
}
