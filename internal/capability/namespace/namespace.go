// Package namespace guards a namespace Plattr made or labels — a preview's,
// an environment's — with a ResourceQuota, a LimitRange and a default
// NetworkPolicy.
package namespace

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/plattr/plattr/internal/capability"
)

// Guards are what a namespace gets.
type Guards struct {
	// Name of the ResourceQuota, LimitRange and NetworkPolicy.
	Name string
	// Quota is the ResourceQuota's hard limits.
	Quota corev1.ResourceList
	// DefaultRequest and DefaultLimit are containers' defaults.
	DefaultRequest, DefaultLimit corev1.ResourceList
	// IngressNamespace runs the ingress controller, let in by the
	// NetworkPolicy beside the namespace's own pods.
	IngressNamespace string
}

// Ensure applies the guards in t.Namespace, writing only what differs.
// Pods take traffic from their own namespace and the ingress controller's
// only; egress stays open (PostgreSQL, the object store, the identity
// provider).
func Ensure(ctx context.Context, kube capability.Kube, t capability.Target, g Guards) error {
	ns := t.Namespace
	if err := capability.Apply(ctx, kube, t, &corev1.ResourceQuota{}, corev1ac.ResourceQuota(g.Name, ns).
		WithLabels(t.Labels).WithOwnerReferences(t.OwnerReference()).
		WithSpec(corev1ac.ResourceQuotaSpec().WithHard(g.Quota)), corev1ac.ExtractResourceQuota); err != nil {
		return fmt.Errorf("applying ResourceQuota %s: %w", g.Name, err)
	}
	if err := capability.Apply(ctx, kube, t, &corev1.LimitRange{}, corev1ac.LimitRange(g.Name, ns).
		WithLabels(t.Labels).WithOwnerReferences(t.OwnerReference()).
		WithSpec(corev1ac.LimitRangeSpec().WithLimits(corev1ac.LimitRangeItem().
			WithType(corev1.LimitTypeContainer).WithDefaultRequest(g.DefaultRequest).WithDefault(g.DefaultLimit))),
		corev1ac.ExtractLimitRange); err != nil {
		return fmt.Errorf("applying LimitRange %s: %w", g.Name, err)
	}
	if err := capability.Apply(ctx, kube, t, &networkingv1.NetworkPolicy{}, networkingv1ac.NetworkPolicy(g.Name, ns).
		WithLabels(t.Labels).WithOwnerReferences(t.OwnerReference()).
		WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(metav1ac.LabelSelector()).
			WithPolicyTypes(networkingv1.PolicyTypeIngress).
			WithIngress(networkingv1ac.NetworkPolicyIngressRule().WithFrom(
				networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector()),
				networkingv1ac.NetworkPolicyPeer().WithNamespaceSelector(metav1ac.LabelSelector().
					WithMatchLabels(map[string]string{"kubernetes.io/metadata.name": g.IngressNamespace}))))),
		networkingv1ac.ExtractNetworkPolicy); err != nil {
		return fmt.Errorf("applying NetworkPolicy %s: %w", g.Name, err)
	}
	return nil
}
