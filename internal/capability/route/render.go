package route

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Gateway API's limits on one HTTPRoute: at most 16 rules, and fewer than
// 128 matches across them (its CEL rule). Each path is one rule with one
// match, so 16 paths fill a route.
const (
	MaxRulesPerRoute   = 16
	MaxMatchesPerRoute = 127
)

// ListenerName is the one listener of an aggregator's Gateway.
const ListenerName = "api"

// Rule is one Active path and where it goes.
type Rule struct {
	Path          Path
	RewritePrefix string
	Service       string
	Port          int32
}

// Chunk splits rules into HTTPRoutes' worth: at most MaxRulesPerRoute
// rules and MaxMatchesPerRoute matches each (one match per rule).
func Chunk(rules []Rule) [][]Rule {
	per := min(MaxRulesPerRoute, MaxMatchesPerRoute)
	var out [][]Rule
	for len(rules) > 0 {
		n := min(per, len(rules))
		out = append(out, rules[:n:n])
		rules = rules[n:]
	}
	return out
}

// Parent is the aggregator's Gateway listener routes attach to.
type Parent struct {
	Aggregator string
	Namespace  string // the Gateway's (the platform namespace)
	Gateway    string
	Hostname   string
}

// RouteName is the n-th HTTPRoute of a target.
func RouteName(target string, n int) string { return target + "-" + strconv.Itoa(n) }

// Owner is what the rendered objects carry: the controller reference and
// labels.
type Owner struct {
	Ref    metav1.OwnerReference
	Labels map[string]string
}

func ownerRef(o Owner) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().WithAPIVersion(o.Ref.APIVersion).WithKind(o.Ref.Kind).WithName(o.Ref.Name).
		WithUID(o.Ref.UID).WithController(true).WithBlockOwnerDeletion(true)
}

// HTTPRoute renders one chunk of a target's rules, every field the API
// server would default written out, so that what Plattr owns compares
// equal to what it applies and a settled target writes nothing.
func HTTPRoute(namespace, name string, o Owner, p Parent, rules []Rule) *gwac.HTTPRouteApplyConfiguration {
	spec := gwac.HTTPRouteSpec().
		WithParentRefs(gwac.ParentReference().WithGroup(gatewayv1.GroupName).WithKind("Gateway").
			WithNamespace(gatewayv1.Namespace(p.Namespace)).WithName(gatewayv1.ObjectName(p.Gateway)).
			WithSectionName(ListenerName)).
		WithHostnames(gatewayv1.Hostname(p.Hostname))
	for _, r := range rules {
		rule := gwac.HTTPRouteRule().
			WithMatches(gwac.HTTPRouteMatch().WithPath(gwac.HTTPPathMatch().
				WithType(gatewayv1.PathMatchType(r.Path.Type)).WithValue(r.Path.Value))).
			WithBackendRefs(gwac.HTTPBackendRef().WithGroup("").WithKind("Service").
				WithName(gatewayv1.ObjectName(r.Service)).WithPort(r.Port).WithWeight(1))
		if r.RewritePrefix != "" {
			rule.WithFilters(gwac.HTTPRouteFilter().WithType(gatewayv1.HTTPRouteFilterURLRewrite).
				WithURLRewrite(gwac.HTTPURLRewriteFilter().WithPath(gwac.HTTPPathModifier().
					WithType(gatewayv1.PrefixMatchHTTPPathModifier).WithReplacePrefixMatch(r.RewritePrefix))))
		}
		spec.WithRules(rule)
	}
	return gwac.HTTPRoute(name, namespace).WithLabels(o.Labels).WithOwnerReferences(ownerRef(o)).WithSpec(spec)
}

// GatewaySpec is the Gateway an aggregator owns.
type GatewaySpec struct {
	Class     string
	Port      int32
	Protocol  platformv1.ApiAggregatorProtocol
	TLSSecret string
}

// Gateway renders an aggregator's Gateway: one listener for its hostname
// that admits routes only from namespaces labelled
// LabelAggregator(aggregator) — a label Plattr alone sets, on namespaces
// with an accepted target — never From: All.
func Gateway(name string, o Owner, p Parent, g GatewaySpec) *gwac.GatewayApplyConfiguration {
	listener := gwac.Listener().WithName(ListenerName).WithHostname(gatewayv1.Hostname(p.Hostname)).
		WithPort(g.Port).WithProtocol(gatewayv1.ProtocolType(g.Protocol)).
		WithAllowedRoutes(gwac.AllowedRoutes().
			WithNamespaces(gwac.RouteNamespaces().WithFrom(gatewayv1.NamespacesFromSelector).
				WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{platformv1.LabelAggregator(p.Aggregator): "true"}))).
			WithKinds(gwac.RouteGroupKind().WithGroup(gatewayv1.GroupName).WithKind("HTTPRoute")))
	if g.Protocol == platformv1.ApiAggregatorHTTPS {
		listener.WithTLS(gwac.ListenerTLSConfig().WithMode(gatewayv1.TLSModeTerminate).
			WithCertificateRefs(gwac.SecretObjectReference().WithGroup("").WithKind("Secret").WithName(gatewayv1.ObjectName(g.TLSSecret))))
	}
	return gwac.Gateway(name, p.Namespace).WithLabels(o.Labels).WithOwnerReferences(ownerRef(o)).
		WithSpec(gwac.GatewaySpec().WithGatewayClassName(gatewayv1.ObjectName(g.Class)).WithListeners(listener))
}
