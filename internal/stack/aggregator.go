package stack

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// PublicAggregator is the ApiAggregator the local stack creates, for
// api.<BASE_DOMAIN>, selecting every namespace: spec.api: {aggregator:
// public, …} works with no set-up.
const PublicAggregator = "public"

// ensurePublicAggregator creates the public ApiAggregator unless it exists
// (a platform team's edit of it is kept).
func ensurePublicAggregator(ctx context.Context, kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: PlatformNamespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	a := &platformv1.ApiAggregator{
		ObjectMeta: metav1.ObjectMeta{Namespace: PlatformNamespace, Name: PublicAggregator},
		Spec: platformv1.ApiAggregatorSpec{
			Hostname:          "api." + BaseDomain,
			NamespaceSelector: &metav1.LabelSelector{},
		},
	}
	if err := c.Create(ctx, a); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ApiAggregator %s: %w", PublicAggregator, err)
	}
	return nil
}
