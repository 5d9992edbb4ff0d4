package ingress

import (
	"context"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

// HostIndex indexes Ingresses, Gateways and HTTPRoutes by the exact hosts
// they route (wildcards are not claims on one host), DomainIndex
// Applications by spec.domain.
const (
	HostIndex   = "plattr.host"
	DomainIndex = "spec.domain"
)

// The Gateway API kinds whose hostnames are claims, when their CRDs are
// installed.
var (
	GatewayKind   = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}
	HTTPRouteKind = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
)

// IngressHosts are the exact hosts an Ingress routes or has TLS for.
func IngressHosts(ing *networkingv1.Ingress) []string {
	var out []string
	add := func(h string) {
		if h = naming.NormalizeHost(h); h != "" && h[0] != '*' && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	for _, r := range ing.Spec.Rules {
		add(r.Host)
	}
	for _, tls := range ing.Spec.TLS {
		for _, h := range tls.Hosts {
			add(h)
		}
	}
	return out
}

// gatewayHosts are a Gateway's listener hostnames or an HTTPRoute's hostnames.
func gatewayHosts(u *unstructured.Unstructured) []string {
	var raw []string
	if u.GroupVersionKind().Kind == GatewayKind.Kind {
		listeners, _, _ := unstructured.NestedSlice(u.Object, "spec", "listeners")
		for _, l := range listeners {
			if m, ok := l.(map[string]any); ok {
				if h, ok := m["hostname"].(string); ok {
					raw = append(raw, h)
				}
			}
		}
	} else {
		raw, _, _ = unstructured.NestedStringSlice(u.Object, "spec", "hostnames")
	}
	var out []string
	for _, h := range raw {
		if h = naming.NormalizeHost(h); h != "" && h[0] != '*' && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// IndexHosts is the HostIndex function for Ingresses and the Gateway API kinds.
func IndexHosts(obj client.Object) []string {
	switch o := obj.(type) {
	case *networkingv1.Ingress:
		return IngressHosts(o)
	case *unstructured.Unstructured:
		return gatewayHosts(o)
	}
	return nil
}

// IndexDomain is the DomainIndex function for Applications.
func IndexDomain(obj client.Object) []string {
	if app, ok := obj.(*platformv1.Application); ok && app.Spec.Domain != "" {
		return []string{naming.NormalizeHost(app.Spec.Domain)}
	}
	return nil
}

// ClusterClaims finds claims in caches: Routes holds every Ingress of the
// cluster (and the Gateway API kinds in Gateway), indexed by HostIndex;
// Apps the operator's Applications, indexed by DomainIndex.
type ClusterClaims struct {
	Routes  client.Reader
	Gateway []schema.GroupVersionKind
	Apps    client.Reader
}

// HostClaims implements Claims.
func (c ClusterClaims) HostClaims(ctx context.Context, host string) ([]Claim, error) {
	var out []Claim
	claim := func(kind string, o metav1.Object, controller bool) Claim {
		cl := Claim{Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName(), Serving: true, Created: o.GetCreationTimestamp(), UID: o.GetUID()}
		if ref := metav1.GetControllerOf(o); ref != nil && controller {
			cl.Controller = ref.UID
		}
		return cl
	}
	ingresses := &networkingv1.IngressList{}
	if err := c.Routes.List(ctx, ingresses, client.MatchingFields{HostIndex: host}); err != nil {
		return nil, err
	}
	for i := range ingresses.Items {
		if ingresses.Items[i].DeletionTimestamp.IsZero() {
			out = append(out, claim("Ingress", &ingresses.Items[i], true))
		}
	}
	for _, gvk := range c.Gateway {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.Routes.List(ctx, list, client.MatchingFields{HostIndex: host}); err != nil {
			if meta.IsNoMatchError(err) {
				continue
			}
			return nil, err
		}
		for i := range list.Items {
			out = append(out, claim(gvk.Kind, &list.Items[i], true))
		}
	}
	if c.Apps != nil {
		apps := &platformv1.ApplicationList{}
		if err := c.Apps.List(ctx, apps, client.MatchingFields{DomainIndex: host}); err != nil {
			return nil, err
		}
		for i := range apps.Items {
			app := &apps.Items[i]
			// An app refused its domain by policy claims nothing: else an
			// app could hold a domain it may never use against the one
			// allowed to. Apps being deleted give theirs up.
			if !app.DeletionTimestamp.IsZero() {
				continue
			}
			if cond := meta.FindStatusCondition(app.Status.Conditions, platformv1.ConditionIngressReady); cond != nil &&
				cond.Reason == platformv1.ReasonDomainNotAllowed && cond.ObservedGeneration == app.Generation {
				continue
			}
			cl := claim("Application", app, false)
			cl.Controller, cl.Serving = app.UID, false
			out = append(out, cl)
		}
	}
	return out, nil
}
