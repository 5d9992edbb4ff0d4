package operator

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/ingress"
)

// Who serves which host, cluster-wide: a host is a claim on DNS and a
// certificate whichever namespace the route is in, so the routes cache
// holds every Ingress of the cluster (WATCH_NAMESPACES or not) — and every
// Gateway and HTTPRoute when the Gateway API's CRDs are installed (looked
// up once, at start) — trimmed to what a claim needs and indexed by host.

// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways;httproutes,verbs=get;list;watch

// hostClaims builds the routes cache, adds it to the manager, and indexes
// the manager's Applications by spec.domain.
func hostClaims(ctx context.Context, mgr ctrl.Manager) (cache.Cache, ingress.ClusterClaims, error) {
	var gateway []schema.GroupVersionKind
	for _, gvk := range []schema.GroupVersionKind{ingress.GatewayKind, ingress.HTTPRouteKind} {
		if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			gateway = append(gateway, gvk)
		} else if !meta.IsNoMatchError(err) {
			return nil, ingress.ClusterClaims{}, fmt.Errorf("looking up %s: %w", gvk.Kind, err)
		}
	}
	routes, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultTransform: trimRoute,
	})
	if err != nil {
		return nil, ingress.ClusterClaims{}, fmt.Errorf("creating the routes cache: %w", err)
	}
	if err := routes.IndexField(ctx, &networkingv1.Ingress{}, ingress.HostIndex, ingress.IndexHosts); err != nil {
		return nil, ingress.ClusterClaims{}, err
	}
	for _, gvk := range gateway {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := routes.IndexField(ctx, u, ingress.HostIndex, ingress.IndexHosts); err != nil {
			return nil, ingress.ClusterClaims{}, err
		}
	}
	if err := mgr.Add(routes); err != nil {
		return nil, ingress.ClusterClaims{}, err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &platformv1.Application{}, ingress.DomainIndex, ingress.IndexDomain); err != nil {
		return nil, ingress.ClusterClaims{}, err
	}
	return routes, ingress.ClusterClaims{Routes: routes, Gateway: gateway, Apps: mgr.GetCache()}, nil
}

// trimRoute keeps of a cached route what a claim reads: its identity,
// owner, age and hosts. Annotations, managed fields and status of every
// Ingress in the cluster would cost memory for nothing.
func trimRoute(obj any) (any, error) {
	o, ok := obj.(client.Object)
	if !ok {
		return obj, nil // a tombstone
	}
	m := metav1.ObjectMeta{
		Name: o.GetName(), Namespace: o.GetNamespace(), UID: o.GetUID(), ResourceVersion: o.GetResourceVersion(),
		CreationTimestamp: o.GetCreationTimestamp(), DeletionTimestamp: o.GetDeletionTimestamp(),
		OwnerReferences: o.GetOwnerReferences(), Generation: o.GetGeneration(),
	}
	switch r := o.(type) {
	case *networkingv1.Ingress:
		out := &networkingv1.Ingress{TypeMeta: r.TypeMeta, ObjectMeta: m}
		for _, rule := range r.Spec.Rules {
			out.Spec.Rules = append(out.Spec.Rules, networkingv1.IngressRule{Host: rule.Host})
		}
		for _, tls := range r.Spec.TLS {
			out.Spec.TLS = append(out.Spec.TLS, networkingv1.IngressTLS{Hosts: tls.Hosts})
		}
		return out, nil
	case *unstructured.Unstructured:
		out := &unstructured.Unstructured{Object: map[string]any{}}
		out.SetGroupVersionKind(r.GroupVersionKind())
		out.SetName(m.Name)
		out.SetNamespace(m.Namespace)
		out.SetUID(m.UID)
		out.SetResourceVersion(m.ResourceVersion)
		out.SetCreationTimestamp(m.CreationTimestamp)
		out.SetDeletionTimestamp(m.DeletionTimestamp)
		out.SetOwnerReferences(m.OwnerReferences)
		if spec, ok := r.Object["spec"].(map[string]any); ok {
			kept := map[string]any{}
			for _, k := range []string{"hostnames", "listeners"} {
				if v, ok := spec[k]; ok {
					kept[k] = v
				}
			}
			out.Object["spec"] = kept
		}
		return out, nil
	}
	return obj, nil
}
