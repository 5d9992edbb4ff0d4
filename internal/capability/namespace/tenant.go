package namespace

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// TenantOf is the tenant owning namespace, "" for a shared namespace. The
// operator's cache holds only the namespaces Plattr manages, a tenant's
// among them, so any namespace it does not find is shared.
func TenantOf(ctx context.Context, c client.Reader, namespace string) (string, error) {
	ns := &corev1.Namespace{}
	err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return platformv1.TenantOfNamespace(ns.Labels), nil
}
