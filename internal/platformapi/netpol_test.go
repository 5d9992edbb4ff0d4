package platformapi_test

import (
	"context"
	"slices"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// A tenant namespace's default NetworkPolicy, as the API server stores it:
// the platform API's pods are let in (its status poller dials the apps'
// Services), and egress, now an allow list, keeps every cluster namespace
// but the platform's (DNS among them) and every address but the cloud
// metadata ones and the platform's admin endpoints (EGRESS_DENY_CIDRS).
// kwok runs no network plugin, so what is enforced is not tested here:
// the policy's content is, against the real API server.
func TestDefaultNetworkPolicyLetsThePollerInAndKeepsMetadataOut(t *testing.T) {
	ctx := context.Background()
	a := admin(t)
	a.must(t, 201, "POST", "/api/v1/tenants", map[string]any{"name": "netpol", "environments": []string{"staging"}}, nil)
	deleteTenantLater(t, "netpol")
	np := &networkingv1.NetworkPolicy{}
	eventually(t, 30*time.Second, "the tenant's NetworkPolicy", func() error {
		return kube.Get(ctx, client.ObjectKey{Namespace: "netpol-staging", Name: "tenant"}, np)
	})
	if len(np.Spec.Ingress) != 1 {
		t.Fatalf("ingress rules %+v", np.Spec.Ingress)
	}
	apiIn := slices.ContainsFunc(np.Spec.Ingress[0].From, func(p networkingv1.NetworkPolicyPeer) bool {
		return p.NamespaceSelector != nil && p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "plattr-system" &&
			p.PodSelector != nil && p.PodSelector.MatchLabels["app.kubernetes.io/name"] == "plattr-api"
	})
	if !apiIn {
		t.Fatalf("the platform API's pods are not let in: %+v", np.Spec.Ingress[0].From)
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) || len(np.Spec.Egress) != 1 {
		t.Fatalf("egress is not restricted: types %v, rules %+v", np.Spec.PolicyTypes, np.Spec.Egress)
	}
	except := map[string][]string{}
	cluster := false
	for _, p := range np.Spec.Egress[0].To {
		switch {
		case p.IPBlock != nil:
			except[p.IPBlock.CIDR] = p.IPBlock.Except
		case p.NamespaceSelector != nil && p.PodSelector == nil:
			cluster = len(p.NamespaceSelector.MatchLabels) == 0 && len(p.NamespaceSelector.MatchExpressions) == 1 &&
				p.NamespaceSelector.MatchExpressions[0].Operator == "NotIn" &&
				slices.Equal(p.NamespaceSelector.MatchExpressions[0].Values, []string{"plattr-system"})
		}
	}
	for cidr, want := range map[string][]string{
		"0.0.0.0/0": {"169.254.169.254/32", "10.0.5.0/24"},
		"::/0":      {"fd00:ec2::254/128", "fd00:5::/64"},
	} {
		if !slices.Equal(except[cidr], want) {
			t.Errorf("egress to %s except %v, want except %v", cidr, except[cidr], want)
		}
	}
	if !cluster {
		t.Errorf("egress to the cluster's pods (DNS) but the platform's namespace is not allowed: %+v", np.Spec.Egress[0].To)
	}
	if t.Failed() {
		t.Logf("%+v", np.Spec)
	}
}
