package route

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Cluster is what Ensure needs of the cluster: the team's Services, and
// the target's HTTPRoutes (those labelled with LabelApiTarget).
type Cluster interface {
	// Service is the Service name in namespace, nil when there is none.
	Service(ctx context.Context, namespace, name string) (*corev1.Service, error)
	// Routes are the HTTPRoutes of target in namespace.
	Routes(ctx context.Context, namespace, target string) ([]gatewayv1.HTTPRoute, error)
	// Apply writes an HTTPRoute if what Plattr owns of it differs.
	Apply(ctx context.Context, route *gwac.HTTPRouteApplyConfiguration) error
	// Delete removes an HTTPRoute.
	Delete(ctx context.Context, route *gatewayv1.HTTPRoute) error
}

// Want is one claimed path of a target, with the verdict on it.
type Want struct {
	Route   platformv1.ApiRoute
	Verdict Verdict
}

// Outcome is what Ensure found.
type Outcome struct {
	// Routes are the per-path statuses, in spec order.
	Routes []platformv1.ApiRouteStatus
	// HTTPRoutes are the names rendered.
	HTTPRoutes []string
	// Unresolved says why a backend could not be used (reason, message),
	// for ResolvedRefs; empty reason when every one resolved.
	UnresolvedReason, UnresolvedMessage string
	// Programmed is the data plane's word on the routes (status.parents for
	// the aggregator's Gateway): True, False or Unknown, with its reason
	// and message.
	Programmed        metav1.ConditionStatus
	ProgrammedReason  string
	ProgrammedMessage string
	// Active counts the paths served.
	Active int
}

// backend checks the Service of one route: same namespace (by
// construction), not ExternalName, with a selector (a selector-less
// Service's EndpointSlices are written by hand and could send the
// aggregator's traffic anywhere, another team's pods or the API server
// included), and with the port.
func backend(svc *corev1.Service, r platformv1.ApiRoute, namespace string) (reason, msg string) {
	ref := fmt.Sprintf("service %s/%s", namespace, r.Service.Name)
	switch {
	case svc == nil:
		return platformv1.ReasonBackendNotFound, ref + " does not exist: create it or fix spec.routes[].service.name"
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		return platformv1.ReasonBackendNotAllowed, ref + " is an ExternalName Service: the aggregator routes only to pods of this namespace"
	case len(svc.Spec.Selector) == 0:
		return platformv1.ReasonBackendNotAllowed, ref + " has no selector (its EndpointSlices are hand-made): give it a pod selector"
	case !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == r.Service.Port }):
		return platformv1.ReasonBackendNotFound, fmt.Sprintf("%s has no port %d: fix spec.routes[].service.port", ref, r.Service.Port)
	}
	return "", ""
}

// Ensure renders a target's Active paths, whose Services resolve, as
// HTTPRoutes <target>-<n> and deletes those no longer needed; it reports
// each path's state and what the data plane said of the routes.
func Ensure(ctx context.Context, c Cluster, namespace, target string, o Owner, p Parent, wants []Want) (Outcome, error) {
	var out Outcome
	var rules []Rule
	services := map[string]*corev1.Service{}
	for _, w := range wants {
		st := platformv1.ApiRouteStatus{
			Path: w.Route.Path, PathType: w.Verdict.Path.Type, State: w.Verdict.State,
			ClaimedAt: &metav1.Time{Time: w.Verdict.Since.UTC().Truncate(1e9)}, Owner: w.Verdict.Owner, Message: w.Verdict.Message,
		}
		if !w.Verdict.OwnerSince.IsZero() {
			st.OwnerSince = &metav1.Time{Time: w.Verdict.OwnerSince.UTC().Truncate(1e9)}
		}
		if w.Verdict.State == platformv1.ApiRouteActive {
			svc, seen := services[w.Route.Service.Name]
			if !seen {
				var err error
				if svc, err = c.Service(ctx, namespace, w.Route.Service.Name); err != nil {
					return out, err
				}
				services[w.Route.Service.Name] = svc
			}
			if reason, msg := backend(svc, w.Route, namespace); reason != "" {
				st.State, st.Message = platformv1.ApiRouteInvalid, msg
				if out.UnresolvedReason == "" {
					out.UnresolvedReason, out.UnresolvedMessage = reason, msg
				}
			} else {
				rules = append(rules, Rule{Path: w.Verdict.Path, RewritePrefix: w.Route.RewritePrefix, Service: w.Route.Service.Name, Port: w.Route.Service.Port})
				out.Active++
			}
		}
		out.Routes = append(out.Routes, st)
	}
	for i, chunk := range Chunk(rules) {
		name := RouteName(target, i)
		if err := c.Apply(ctx, HTTPRoute(namespace, name, o, p, chunk)); err != nil {
			return out, fmt.Errorf("applying HTTPRoute %s/%s: %w", namespace, name, err)
		}
		out.HTTPRoutes = append(out.HTTPRoutes, name)
	}
	live, err := c.Routes(ctx, namespace, target)
	if err != nil {
		return out, err
	}
	out.Programmed, out.ProgrammedReason, out.ProgrammedMessage = metav1.ConditionUnknown, platformv1.ReasonPending, "no path is served"
	byName := map[string]*gatewayv1.HTTPRoute{}
	for i := range live {
		r := &live[i]
		if slices.Contains(out.HTTPRoutes, r.Name) {
			byName[r.Name] = r
			continue
		}
		if metav1.IsControlledBy(r, &metav1.ObjectMeta{UID: o.Ref.UID}) {
			if err := c.Delete(ctx, r); err != nil {
				return out, fmt.Errorf("deleting HTTPRoute %s/%s: %w", namespace, r.Name, err)
			}
		}
	}
	// A route just applied and not read back yet counts as not reported:
	// the message names what was rendered, not what the cache has seen, so
	// it does not change (and write the status) as the cache catches up.
	pending, refused := false, []string(nil)
	for _, name := range out.HTTPRoutes {
		r := byName[name]
		if r == nil {
			pending = true
			continue
		}
		switch st, msg := parentAccepted(r, p); st {
		case metav1.ConditionTrue:
		case metav1.ConditionFalse:
			refused = append(refused, r.Name+": "+msg)
		default:
			pending = true
		}
	}
	switch {
	case len(out.HTTPRoutes) == 0:
	case len(refused) > 0:
		out.Programmed, out.ProgrammedReason, out.ProgrammedMessage = metav1.ConditionFalse, "NotAccepted", "the Gateway refused "+strings.Join(refused, "; ")
	case pending:
		out.Programmed, out.ProgrammedMessage = metav1.ConditionUnknown, "waiting for the Gateway's data plane to accept "+strings.Join(out.HTTPRoutes, ", ")
	default:
		out.Programmed, out.ProgrammedReason, out.ProgrammedMessage = metav1.ConditionTrue, platformv1.ReasonProgrammed, "the Gateway accepted every HTTPRoute"
	}
	return out, nil
}

// parentAccepted is the route's Accepted condition for the aggregator's
// Gateway, as the Gateway's controller wrote it in status.parents.
func parentAccepted(r *gatewayv1.HTTPRoute, p Parent) (metav1.ConditionStatus, string) {
	for _, ps := range r.Status.Parents {
		ns := r.Namespace
		if ps.ParentRef.Namespace != nil {
			ns = string(*ps.ParentRef.Namespace)
		}
		if string(ps.ParentRef.Name) != p.Gateway || ns != p.Namespace {
			continue
		}
		for _, c := range ps.Conditions {
			if c.Type == string(gatewayv1.RouteConditionAccepted) && c.ObservedGeneration == r.Generation {
				return c.Status, c.Message
			}
		}
	}
	return metav1.ConditionUnknown, ""
}
