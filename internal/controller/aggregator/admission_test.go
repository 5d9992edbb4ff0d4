package aggregator_test

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/plattr/plattr/internal/operator"
)

// TestHandWrittenRouteToPlattrsGatewayIsRefused is the attacker's view: a
// team member allowed to write HTTPRoutes in their namespace hand-writes
// one attaching to the aggregator's Gateway, to skip the conflict rules and
// take another team's path. The API server refuses it (the
// plattr-gateway-routes admission policy); the same member may still
// attach to a Gateway that is not Plattr's, and the operator's own routes
// to Plattr's Gateway are admitted.
func TestHandWrittenRouteToPlattrsGatewayIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	aggregatorFor(t, "guarded", "api.guarded.test", nil)
	ns := namespace(t, "attacker", nil)
	service(t, ns, "api")
	target(t, ns, "legit", "guarded", routeTo("/legit", "api"))
	eventually(t, "the operator's route is admitted", httpRoutes(ns, "legit"), func(rs []gatewayv1.HTTPRoute) string {
		if len(rs) != 1 {
			return "no HTTPRoute yet"
		}
		return ""
	})

	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "test-httproute-writer"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{gatewayv1.GroupName}, Resources: []string{"httproutes"}, Verbs: []string{"create", "update", "patch", "get"}}}}
	if err := k8s.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "writer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "mallory@example.com"}}}
	if err := k8s.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "mallory@example.com", Groups: []string{"system:authenticated"}}
	mallory, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	hijack := func(name, gwNamespace, gateway string) *gatewayv1.HTTPRoute {
		return &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: gatewayv1.HTTPRouteSpec{
				CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{
					Name: gatewayv1.ObjectName(gateway), Namespace: ptr.To(gatewayv1.Namespace(gwNamespace))}}},
				Hostnames: []gatewayv1.Hostname{"api.guarded.test"},
				Rules: []gatewayv1.HTTPRouteRule{{
					Matches:     []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To("/legit/admin")}}},
					BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "api", Port: ptr.To(gatewayv1.PortNumber(80))}}}},
				}},
			}}
	}
	// The policy's params are read by the API server from its own cache of
	// Gateways: wait until it has seen the new one.
	eventually(t, "a hand-written route to Plattr's Gateway is refused", func() (error, error) {
		return mallory.Create(ctx, hijack("hijack", platformNamespace, "guarded")), nil
	}, func(err error) string {
		if err == nil {
			_ = k8s.Delete(ctx, hijack("hijack", platformNamespace, "guarded"))
			return "admitted"
		}
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.parentRefs") ||
			!strings.Contains(err.Error(), "ApiAggregatorTarget") {
			return "refused, but not by the policy naming the field and the fix: " + err.Error()
		}
		return ""
	})
	// Nor can the member take over the operator's own route.
	rs, _ := httpRoutes(ns, "legit")()
	own := rs[0].DeepCopy()
	own.Spec.Rules[0].Matches[0].Path.Value = ptr.To("/")
	if err := mallory.Update(ctx, own); err == nil || !strings.Contains(err.Error(), "spec.parentRefs") {
		t.Errorf("editing Plattr's HTTPRoute: %v, want refused", err)
	}
	// Without a parentRef to Plattr's Gateway the route is the team's
	// business (another Gateway, or the default namespace one).
	if err := mallory.Create(ctx, hijack("elsewhere", "other-gateways", "theirs")); err != nil {
		t.Errorf("a route to a Gateway that is not Plattr's: %v, want admitted", err)
	}
}
