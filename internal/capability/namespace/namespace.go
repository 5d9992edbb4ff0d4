// Package namespace guards a namespace Plattr made or labels — a preview's,
// an environment's — with a ResourceQuota, a LimitRange and a default
// NetworkPolicy.
package namespace

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	// Network is what the NetworkPolicy lets in and keeps out beside.
	Network Network
}

// Network is the platform's side of the default NetworkPolicy, from the
// operator's configuration.
type Network struct {
	// APINamespace and APIPodLabels find the platform API's pods, let in
	// so its status poller reaches the apps' Services; none when empty.
	APINamespace string
	APIPodLabels map[string]string
	// EgressDenyCIDRs are the platform's admin endpoints pods must not
	// reach, beside the cloud metadata addresses (MetadataCIDRs).
	EgressDenyCIDRs []string
}

// MetadataCIDRs are the cloud metadata services (EC2, GCP, Azure; EC2 over
// IPv6): a pod reaching them could take the node's cloud identity.
var MetadataCIDRs = []string{"169.254.169.254/32", "fd00:ec2::254/128"}

// Ensure applies the guards in t.Namespace, writing only what differs.
// Pods take traffic from their own namespace, the ingress controller's and
// the platform API's pods only. Egress stays open (PostgreSQL, the object
// store, the identity provider, DNS) but for the cloud metadata addresses
// and the platform's admin endpoints.
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
		WithSpec(g.networkPolicy()),
		networkingv1ac.ExtractNetworkPolicy); err != nil {
		return fmt.Errorf("applying NetworkPolicy %s: %w", g.Name, err)
	}
	return nil
}

// networkPolicy is the namespace's default policy. Egress is an allow
// list: every pod of the cluster's namespaces (DNS among them) and every
// address but the denied ones, per family.
func (g Guards) networkPolicy() *networkingv1ac.NetworkPolicySpecApplyConfiguration {
	from := []*networkingv1ac.NetworkPolicyPeerApplyConfiguration{
		networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector()),
		networkingv1ac.NetworkPolicyPeer().WithNamespaceSelector(metav1ac.LabelSelector().
			WithMatchLabels(map[string]string{"kubernetes.io/metadata.name": g.IngressNamespace})),
	}
	if g.Network.APINamespace != "" {
		from = append(from, networkingv1ac.NetworkPolicyPeer().
			WithNamespaceSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"kubernetes.io/metadata.name": g.Network.APINamespace})).
			WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(g.Network.APIPodLabels)))
	}
	var v4, v6 []string
	for _, c := range append(slices.Clone(MetadataCIDRs), g.Network.EgressDenyCIDRs...) {
		if strings.Contains(c, ":") {
			v6 = append(v6, c)
		} else {
			v4 = append(v4, c)
		}
	}
	cluster := metav1ac.LabelSelector()
	if g.Network.APINamespace != "" {
		// Not the platform's own namespace: its API and operator are
		// reached through the ingress, never by an app directly.
		cluster = cluster.WithMatchExpressions(metav1ac.LabelSelectorRequirement().
			WithKey("kubernetes.io/metadata.name").WithOperator(metav1.LabelSelectorOpNotIn).WithValues(g.Network.APINamespace))
	}
	return networkingv1ac.NetworkPolicySpec().
		WithPodSelector(metav1ac.LabelSelector()).
		WithPolicyTypes(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress).
		WithIngress(networkingv1ac.NetworkPolicyIngressRule().WithFrom(from...)).
		WithEgress(networkingv1ac.NetworkPolicyEgressRule().WithTo(
			networkingv1ac.NetworkPolicyPeer().WithNamespaceSelector(cluster),
			networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR("0.0.0.0/0").WithExcept(v4...)),
			networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR("::/0").WithExcept(v6...)),
		))
}
