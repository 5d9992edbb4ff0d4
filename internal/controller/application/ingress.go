package application

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

// PostgRESTPath is where an app's REST API is served on its host.
const PostgRESTPath = "/api/rest"

// reconcileIngress routes the app's host to its Service with TLS, and
// /api/rest to PostgREST when the database is on. The REST route is a
// second Ingress because it needs a path rewrite (PostgREST serves at /),
// and ingress-nginx applies a rewrite to a whole Ingress.
func (r *Reconciler) reconcileIngress(ctx context.Context, s *scope) error {
	app := s.app
	if !s.workloadUp {
		setCondition(app, platformv1.ConditionIngressReady, metav1.ConditionFalse, platformv1.ReasonWaitingForWorkload, "waiting for the workload (see DeploymentReady)")
		return nil
	}
	names := naming.ObjectsFor(app.Name)
	host := naming.Host(app, r.Config.BaseDomain)
	if err := applyChild(ctx, r, s, &networkingv1.Ingress{}, r.ingress(app, names, host), networkingv1ac.ExtractIngress); err != nil {
		setCondition(app, platformv1.ConditionIngressReady, metav1.ConditionFalse, platformv1.ReasonApplyFailed, fmt.Sprintf("applying Ingress %s: %v", names.Workload, err))
		return s.fail(err)
	}
	var err error
	if app.Spec.DatabaseEnabled() {
		err = applyChild(ctx, r, s, &networkingv1.Ingress{}, r.restIngress(app, names, host), networkingv1ac.ExtractIngress)
	} else {
		err = deleteChild(ctx, r, s, &networkingv1.Ingress{}, names.PostgRESTIngress)
	}
	if err != nil {
		setCondition(app, platformv1.ConditionIngressReady, metav1.ConditionFalse, platformv1.ReasonApplyFailed, fmt.Sprintf("Ingress %s: %v", names.PostgRESTIngress, err))
		return s.fail(err)
	}
	setCondition(app, platformv1.ConditionIngressReady, metav1.ConditionTrue, platformv1.ReasonConfigured,
		fmt.Sprintf("https://%s routed to Service %s (class %s, TLS Secret %s)", host, names.Workload, r.Config.IngressClass, names.TLSSecret))
	return nil
}

func (r *Reconciler) ingressBase(app *platformv1.Application, name, host string, extra map[string]string) *networkingv1ac.IngressApplyConfiguration {
	annotations := map[string]string{
		"cert-manager.io/cluster-issuer":            r.Config.ClusterIssuer,
		"external-dns.alpha.kubernetes.io/hostname": host,
	}
	for k, v := range extra {
		annotations[k] = v
	}
	return networkingv1ac.Ingress(name, app.Namespace).
		WithLabels(labels(app)).
		WithAnnotations(annotations).
		WithOwnerReferences(ownerReference(app))
}

func backend(service, port string) *networkingv1ac.IngressBackendApplyConfiguration {
	return networkingv1ac.IngressBackend().WithService(networkingv1ac.IngressServiceBackend().
		WithName(service).WithPort(networkingv1ac.ServiceBackendPort().WithName(port)))
}

func (r *Reconciler) ingress(app *platformv1.Application, names naming.Objects, host string) *networkingv1ac.IngressApplyConfiguration {
	return r.ingressBase(app, names.Workload, host, nil).
		WithSpec(networkingv1ac.IngressSpec().
			WithIngressClassName(r.Config.IngressClass).
			WithTLS(networkingv1ac.IngressTLS().WithHosts(host).WithSecretName(names.TLSSecret)).
			WithRules(networkingv1ac.IngressRule().WithHost(host).WithHTTP(networkingv1ac.HTTPIngressRuleValue().
				WithPaths(networkingv1ac.HTTPIngressPath().WithPath("/").WithPathType(networkingv1.PathTypePrefix).
					WithBackend(backend(names.Workload, "http"))))))
}

func (r *Reconciler) restIngress(app *platformv1.Application, names naming.Objects, host string) *networkingv1ac.IngressApplyConfiguration {
	return r.ingressBase(app, names.PostgRESTIngress, host, map[string]string{
		"nginx.ingress.kubernetes.io/use-regex":      "true",
		"nginx.ingress.kubernetes.io/rewrite-target": "/$2",
	}).
		WithSpec(networkingv1ac.IngressSpec().
			WithIngressClassName(r.Config.IngressClass).
			WithTLS(networkingv1ac.IngressTLS().WithHosts(host).WithSecretName(names.TLSSecret)).
			WithRules(networkingv1ac.IngressRule().WithHost(host).WithHTTP(networkingv1ac.HTTPIngressRuleValue().
				WithPaths(networkingv1ac.HTTPIngressPath().WithPath(PostgRESTPath + "(/|$)(.*)").
					WithPathType(networkingv1.PathTypeImplementationSpecific).
					WithBackend(backend(names.Workload, "postgrest"))))))
}
