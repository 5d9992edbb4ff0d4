// Package ingress is the ingress capability: the owner's host routed to its
// Service with TLS, and PostgREST under /api/rest when it has a database.
package ingress

import (
	"context"
	"fmt"
	"sync"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
)

// Capability routes hosts to workloads.
type Capability struct {
	capability.Kube
	// Class is the IngressClass; ClusterIssuer the cert-manager issuer of
	// the TLS certificate.
	Class, ClusterIssuer string
	// Hosts is what a host may be (hosts.go): the platform's reserved
	// hosts, the allowed domain suffixes, who else serves a host.
	Hosts Hosts
}

// Spec is the routing one owner asks for.
type Spec struct {
	Host string
	// Generated is the host the platform generates for the owner; Host
	// differs from it when the owner set spec.domain.
	Generated string
	// Tenant is the tenant of the owner's namespace, "" for a shared one:
	// its spec.domains are the suffixes a custom domain may use.
	Tenant string
	// Service is the workload's Service, also the main Ingress's name.
	Service string
	// REST names the PostgREST Ingress; it exists only when PostgREST is on.
	REST string
	// LegacyREST is the name earlier versions gave the PostgREST Ingress;
	// one of that name the owner controls is removed.
	LegacyREST string
	PostgREST  bool
	TLSSecret  string
}

// Ensure routes the host once the workload is up, and sets IngressReady.
// The REST route is a second Ingress because it needs a path rewrite
// (PostgREST serves at /), and ingress-nginx applies a rewrite to a whole
// Ingress.
func (c *Capability) Ensure(ctx context.Context, t capability.Target, spec Spec, workloadUp bool) error {
	// The host is checked first: a refused one is reported at once, and
	// no route for it is written.
	if err := c.checkHost(ctx, t, spec); err != nil {
		return err
	}
	if !workloadUp {
		t.SetCondition(platformv1.ConditionIngressReady, metav1.ConditionFalse, platformv1.ReasonWaitingForWorkload, "waiting for the workload (see DeploymentReady)")
		return nil
	}
	// The two Ingresses at once: neither needs the other, and a new app's
	// reconcile waited for both writes in turn.
	var mainErr, err error
	var wg sync.WaitGroup
	wg.Go(func() {
		mainErr = capability.Apply(ctx, c.Kube, t, &networkingv1.Ingress{}, c.main(t, spec), networkingv1ac.ExtractIngress)
	})
	if spec.PostgREST {
		err = capability.Apply(ctx, c.Kube, t, &networkingv1.Ingress{}, c.rest(t, spec), networkingv1ac.ExtractIngress)
	} else {
		err = c.Delete(ctx, t, &networkingv1.Ingress{}, spec.REST)
	}
	wg.Wait()
	if mainErr != nil {
		t.SetCondition(platformv1.ConditionIngressReady, metav1.ConditionFalse, platformv1.ReasonApplyFailed, fmt.Sprintf("applying Ingress %s: %v", spec.Service, mainErr))
		return mainErr
	}
	if err != nil {
		t.SetCondition(platformv1.ConditionIngressReady, metav1.ConditionFalse, platformv1.ReasonApplyFailed, fmt.Sprintf("Ingress %s: %v", spec.REST, err))
		return err
	}
	if spec.LegacyREST != "" && spec.LegacyREST != spec.REST {
		// Delete leaves an Ingress of that name alone unless this owner
		// controls it: <app>-api may be app <app>-api's main Ingress.
		if err := c.Delete(ctx, t, &networkingv1.Ingress{}, spec.LegacyREST); err != nil {
			t.SetCondition(platformv1.ConditionIngressReady, metav1.ConditionFalse, platformv1.ReasonApplyFailed, fmt.Sprintf("removing the old Ingress %s: %v", spec.LegacyREST, err))
			return err
		}
	}
	t.SetCondition(platformv1.ConditionIngressReady, metav1.ConditionTrue, platformv1.ReasonConfigured,
		fmt.Sprintf("https://%s routed to Service %s (class %s, TLS Secret %s)", spec.Host, spec.Service, c.Class, spec.TLSSecret))
	return nil
}

func (c *Capability) base(t capability.Target, name, host string, extra map[string]string) *networkingv1ac.IngressApplyConfiguration {
	annotations := map[string]string{
		"cert-manager.io/cluster-issuer":            c.ClusterIssuer,
		"external-dns.alpha.kubernetes.io/hostname": host,
	}
	for k, v := range extra {
		annotations[k] = v
	}
	return networkingv1ac.Ingress(name, t.Namespace).
		WithLabels(t.Labels).
		WithAnnotations(annotations).
		WithOwnerReferences(t.OwnerReference())
}

func backend(service, port string) *networkingv1ac.IngressBackendApplyConfiguration {
	return networkingv1ac.IngressBackend().WithService(networkingv1ac.IngressServiceBackend().
		WithName(service).WithPort(networkingv1ac.ServiceBackendPort().WithName(port)))
}

func (c *Capability) main(t capability.Target, spec Spec) *networkingv1ac.IngressApplyConfiguration {
	return c.base(t, spec.Service, spec.Host, nil).
		WithSpec(networkingv1ac.IngressSpec().
			WithIngressClassName(c.Class).
			WithTLS(networkingv1ac.IngressTLS().WithHosts(spec.Host).WithSecretName(spec.TLSSecret)).
			WithRules(networkingv1ac.IngressRule().WithHost(spec.Host).WithHTTP(networkingv1ac.HTTPIngressRuleValue().
				WithPaths(networkingv1ac.HTTPIngressPath().WithPath("/").WithPathType(networkingv1.PathTypePrefix).
					WithBackend(backend(spec.Service, "http"))))))
}

func (c *Capability) rest(t capability.Target, spec Spec) *networkingv1ac.IngressApplyConfiguration {
	return c.base(t, spec.REST, spec.Host, map[string]string{
		"nginx.ingress.kubernetes.io/use-regex":      "true",
		"nginx.ingress.kubernetes.io/rewrite-target": "/$2",
	}).
		WithSpec(networkingv1ac.IngressSpec().
			WithIngressClassName(c.Class).
			WithTLS(networkingv1ac.IngressTLS().WithHosts(spec.Host).WithSecretName(spec.TLSSecret)).
			WithRules(networkingv1ac.IngressRule().WithHost(spec.Host).WithHTTP(networkingv1ac.HTTPIngressRuleValue().
				WithPaths(networkingv1ac.HTTPIngressPath().WithPath(platformv1.PostgRESTPath + "(/|$)(.*)").
					WithPathType(networkingv1.PathTypeImplementationSpecific).
					WithBackend(backend(spec.Service, "postgrest"))))))
}
