package aggregator_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// httpRoutes lists the HTTPRoutes of a target, by name.
func httpRoutes(ns, target string) func() ([]gatewayv1.HTTPRoute, error) {
	return func() ([]gatewayv1.HTTPRoute, error) {
		list := &gatewayv1.HTTPRouteList{}
		err := k8s.List(context.Background(), list, client.InNamespace(ns), client.MatchingLabels{platformv1.LabelApiTarget: target})
		slices.SortFunc(list.Items, func(a, b gatewayv1.HTTPRoute) int { return strings.Compare(a.Name, b.Name) })
		return list.Items, err
	}
}

// paths is every path value across routes, in order.
func paths(routes []gatewayv1.HTTPRoute) string {
	var out []string
	for _, r := range routes {
		for _, rule := range r.Spec.Rules {
			for _, m := range rule.Matches {
				out = append(out, *m.Path.Value)
			}
		}
	}
	return strings.Join(out, " ")
}

// TestTwoTeamsClaimOrders: the first claimant of /orders owns it; the
// second is Conflicted naming the owner and keeps /billing; a foreign
// /orders/admin under the owned prefix conflicts; deleting the first
// promotes the second.
func TestTwoTeamsClaimOrders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	aggregatorFor(t, "orders", "api.orders.test", nil)
	nsA, nsB, nsC := namespace(t, "team-a", nil), namespace(t, "team-b", nil), namespace(t, "team-c", nil)
	for _, ns := range []string{nsA, nsB, nsC} {
		service(t, ns, "api")
	}
	a := target(t, nsA, "shop", "orders", routeTo("/orders", "api"))
	eventually(t, "team a owns /orders", getTarget(nsA, "shop"), func(tg *platformv1.ApiAggregatorTarget) string {
		if s := cond(tg, platformv1.ConditionReady, metav1.ConditionTrue, ""); s != "" {
			return s
		}
		return cond(tg, platformv1.ConditionConflicted, metav1.ConditionFalse, platformv1.ReasonNoConflict)
	})
	target(t, nsB, "shop", "orders", routeTo("/orders", "api"), routeTo("/billing", "api"))
	owner := nsA + "/shop"
	eventually(t, "team b conflicted on /orders, keeps /billing", getTarget(nsB, "shop"), func(tg *platformv1.ApiAggregatorTarget) string {
		if s := cond(tg, platformv1.ConditionConflicted, metav1.ConditionTrue, platformv1.ReasonPathConflict); s != "" {
			return s
		}
		if c := cond(tg, platformv1.ConditionReady, metav1.ConditionTrue, ""); c != "" {
			return "a partial conflict keeps Ready: " + c
		}
		if got, want := states(tg), "/orders=Conflicted("+owner+") /billing=Active"; got != want {
			return fmt.Sprintf("routes %q, want %q", got, want)
		}
		if !strings.Contains(capabilityMsg(tg, platformv1.ConditionConflicted), owner) {
			return "Conflicted does not name the owner: " + capabilityMsg(tg, platformv1.ConditionConflicted)
		}
		return ""
	})
	eventually(t, "team b's HTTPRoute serves /billing only", httpRoutes(nsB, "shop"), func(rs []gatewayv1.HTTPRoute) string {
		if p := paths(rs); p != "/billing" {
			return "paths " + p
		}
		if h := rs[0].Spec.Hostnames; len(h) != 1 || h[0] != "api.orders.test" {
			return fmt.Sprintf("hostnames %v", h)
		}
		return ""
	})
	target(t, nsC, "admin", "orders", routeTo("/orders/admin", "api"), routeTo("/inventory", "api"))
	eventually(t, "a foreign sub-path under /orders conflicts", getTarget(nsC, "admin"), func(tg *platformv1.ApiAggregatorTarget) string {
		if got, want := states(tg), "/orders/admin=Conflicted("+owner+") /inventory=Active"; got != want {
			return fmt.Sprintf("routes %q, want %q", got, want)
		}
		return ""
	})
	eventually(t, "the aggregator lists the conflicts", getAggregator("orders"), func(ag *platformv1.ApiAggregator) string {
		if ag.Status.AttachedTargets != 3 || ag.Status.ActiveRoutes != 3 || ag.Status.ConflictCount != 2 || len(ag.Status.Conflicts) != 2 {
			return fmt.Sprintf("targets %d, routes %d, conflicts %d %v", ag.Status.AttachedTargets, ag.Status.ActiveRoutes, ag.Status.ConflictCount, ag.Status.Conflicts)
		}
		return ""
	})

	// An edit of team b (a new path) does not make its claims older.
	if err := k8s.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	ownerB := nsB + "/shop"
	eventually(t, "deleting team a promotes team b", getTarget(nsB, "shop"), func(tg *platformv1.ApiAggregatorTarget) string {
		if got, want := states(tg), "/orders=Active /billing=Active"; got != want {
			return fmt.Sprintf("routes %q, want %q", got, want)
		}
		return cond(tg, platformv1.ConditionConflicted, metav1.ConditionFalse, "")
	})
	eventually(t, "team b's HTTPRoute now serves /orders", httpRoutes(nsB, "shop"), func(rs []gatewayv1.HTTPRoute) string {
		if p := paths(rs); p != "/orders /billing" {
			return "paths " + p
		}
		return ""
	})
	eventually(t, "team c's /orders/admin is now held by team b", getTarget(nsC, "admin"), func(tg *platformv1.ApiAggregatorTarget) string {
		if got, want := states(tg), "/orders/admin=Conflicted("+ownerB+") /inventory=Active"; got != want {
			return fmt.Sprintf("routes %q, want %q", got, want)
		}
		return ""
	})
}

func capabilityMsg(tg *platformv1.ApiAggregatorTarget, typ string) string {
	for _, c := range tg.Status.Conditions {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}

// TestFortyPathsGiveThreeRoutes, and a settled target writes nothing.
func TestFortyPathsGiveThreeRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	aggregatorFor(t, "many", "api.many.test", nil)
	ns := namespace(t, "many", nil)
	service(t, ns, "api")
	var routes []platformv1.ApiRoute
	for i := range 40 {
		routes = append(routes, routeTo(fmt.Sprintf("/p%02d", i), "api"))
	}
	target(t, ns, "wide", "many", routes...)
	rs := eventually(t, "40 paths in 3 HTTPRoutes", httpRoutes(ns, "wide"), func(rs []gatewayv1.HTTPRoute) string {
		if len(rs) != 3 {
			return fmt.Sprintf("%d HTTPRoutes", len(rs))
		}
		for _, r := range rs {
			if len(r.Spec.Rules) > 16 {
				return fmt.Sprintf("%s has %d rules", r.Name, len(r.Spec.Rules))
			}
		}
		return ""
	})
	if names := []string{rs[0].Name, rs[1].Name, rs[2].Name}; fmt.Sprint(names) != "[wide-0 wide-1 wide-2]" {
		t.Errorf("names %v", names)
	}
	eventually(t, "the target is Ready", getTarget(ns, "wide"), func(tg *platformv1.ApiAggregatorTarget) string {
		return cond(tg, platformv1.ConditionReady, metav1.ConditionTrue, "")
	})
	// A settled target whose reconcile is triggered again writes nothing.
	// Other tests run in parallel, so the count is of this target's objects.
	before := writesOf(ns, "wide")
	snapshot := logOf("wide")
	tg := &platformv1.ApiAggregatorTarget{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wide"}, tg); err != nil {
		t.Fatal(err)
	}
	tg.Annotations = map[string]string{"poke": "1"}
	if err := k8s.Update(ctx, tg); err != nil {
		t.Fatal(err)
	}
	// Dropping paths to 17 leaves two routes: the third is deleted. Wait for
	// that (a later event than the poke) before counting the poke's writes.
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wide"}, tg); err != nil {
		t.Fatal(err)
	}
	tg.Spec.Routes = routes[:17]
	if err := k8s.Update(ctx, tg); err != nil {
		t.Fatal(err)
	}
	eventually(t, "17 paths in 2 HTTPRoutes", httpRoutes(ns, "wide"), func(rs []gatewayv1.HTTPRoute) string {
		if len(rs) != 2 {
			return fmt.Sprintf("%d HTTPRoutes", len(rs))
		}
		return ""
	})
	eventually(t, "status of the new generation", getTarget(ns, "wide"), func(tg *platformv1.ApiAggregatorTarget) string {
		return cond(tg, platformv1.ConditionReady, metav1.ConditionTrue, "")
	})
	// The poke wrote nothing; the shrink wrote the status once, route 1
	// once (its rules changed) and deleted route 2 once.
	after := writesOf(ns, "wide")
	if d := after - before; d > 3 {
		t.Errorf("%d writes of the target's objects for a no-op and one shrink, want at most 3: before %s; after %s", d, snapshot, logOf("wide"))
	}
}

// writesOf counts the writes the manager made of a target's status and
// HTTPRoutes. Applies are counted per apply configuration type: the target
// test's own routes are the only ones whose names start with its name.
func writesOf(ns, name string) int64 {
	var n int64
	writeLog.Range(func(k, v any) bool {
		key := k.(string)
		if strings.HasSuffix(key, " "+name) || strings.Contains(key, " "+name+"-") {
			n += v.(interface{ Load() int64 }).Load()
		}
		return true
	})
	_ = ns
	return n
}

// logOf is the write log of a target's objects, "what=count".
func logOf(name string) string {
	var out []string
	writeLog.Range(func(k, v any) bool {
		key := k.(string)
		if strings.HasSuffix(key, " "+name) || strings.Contains(key, " "+name+"-") {
			out = append(out, fmt.Sprintf("%s=%d", key, v.(interface{ Load() int64 }).Load()))
		}
		return true
	})
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// TestTargetOutsideTheSelectorIsNotAllowed, and the Gateway admits only
// namespaces Plattr labelled.
func TestTargetOutsideTheSelectorIsNotAllowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	aggregatorFor(t, "picky", "api.picky.test", &metav1.LabelSelector{MatchLabels: map[string]string{"team": "picked"}})
	in, out := namespace(t, "picked", map[string]string{"team": "picked"}), namespace(t, "other", nil)
	service(t, in, "api")
	service(t, out, "api")
	target(t, in, "ok", "picky", routeTo("/in", "api"))
	target(t, out, "no", "picky", routeTo("/out", "api"))
	eventually(t, "outside the selector: NotAllowed", getTarget(out, "no"), func(tg *platformv1.ApiAggregatorTarget) string {
		if s := cond(tg, platformv1.ConditionAccepted, metav1.ConditionFalse, platformv1.ReasonNotAllowed); s != "" {
			return s
		}
		if tg.Status.Phase != platformv1.PhasePending {
			return "phase " + string(tg.Status.Phase)
		}
		return ""
	})
	eventually(t, "inside: Ready", getTarget(in, "ok"), func(tg *platformv1.ApiAggregatorTarget) string {
		return cond(tg, platformv1.ConditionReady, metav1.ConditionTrue, "")
	})
	if rs, _ := httpRoutes(out, "no")(); len(rs) != 0 {
		t.Errorf("a target outside the selector has HTTPRoutes: %v", rs)
	}
	gw := eventually(t, "the Gateway admits by Plattr's label only", func() (*gatewayv1.Gateway, error) {
		gw := &gatewayv1.Gateway{}
		return gw, k8s.Get(ctx, client.ObjectKey{Namespace: platformNamespace, Name: "picky"}, gw)
	}, func(gw *gatewayv1.Gateway) string {
		if len(gw.Spec.Listeners) != 1 {
			return "listeners"
		}
		return ""
	})
	l := gw.Spec.Listeners[0]
	ns := l.AllowedRoutes.Namespaces
	if l.Hostname == nil || *l.Hostname != "api.picky.test" || ns == nil || ns.From == nil || *ns.From != gatewayv1.NamespacesFromSelector ||
		ns.Selector == nil || ns.Selector.MatchLabels[platformv1.LabelAggregator("picky")] != "true" {
		t.Errorf("listener %+v, namespaces %+v: want the hostname and a Selector on %s", l, ns, platformv1.LabelAggregator("picky"))
	}
	eventually(t, "the accepted namespace is labelled, the other not", func() ([]corev1.Namespace, error) {
		var got []corev1.Namespace
		for _, n := range []string{in, out} {
			o := corev1.Namespace{}
			if err := k8s.Get(ctx, client.ObjectKey{Name: n}, &o); err != nil {
				return nil, err
			}
			got = append(got, o)
		}
		return got, nil
	}, func(nss []corev1.Namespace) string {
		if nss[0].Labels[platformv1.LabelAggregator("picky")] != "true" || nss[1].Labels[platformv1.LabelAggregator("picky")] != "" {
			return fmt.Sprintf("labels %v / %v", nss[0].Labels, nss[1].Labels)
		}
		return ""
	})
	eventually(t, "Programmed is not claimed without a data plane", getAggregator("picky"), func(a *platformv1.ApiAggregator) string {
		if s := cond(a, platformv1.ConditionAccepted, metav1.ConditionTrue, ""); s != "" {
			return s
		}
		return cond(a, platformv1.ConditionProgrammed, metav1.ConditionUnknown, platformv1.ReasonPending)
	})
}

// TestMissingServiceAndRefusedBackends: ResolvedRefs=False BackendNotFound
// until the Service exists; an ExternalName Service and a selector-less one
// are BackendNotAllowed.
func TestMissingServiceAndRefusedBackends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	aggregatorFor(t, "refs", "api.refs.test", nil)
	ns := namespace(t, "refs", nil)
	target(t, ns, "late", "refs", routeTo("/late", "later"))
	eventually(t, "missing Service", getTarget(ns, "late"), func(tg *platformv1.ApiAggregatorTarget) string {
		return cond(tg, platformv1.ConditionResolvedRefs, metav1.ConditionFalse, platformv1.ReasonBackendNotFound)
	})
	if rs, _ := httpRoutes(ns, "late")(); len(rs) != 0 {
		t.Errorf("a path without its Service is rendered: %v", paths(rs))
	}
	service(t, ns, "later")
	eventually(t, "the Service appears", getTarget(ns, "late"), func(tg *platformv1.ApiAggregatorTarget) string {
		return cond(tg, platformv1.ConditionReady, metav1.ConditionTrue, "")
	})

	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ext"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "kubernetes.default.svc.cluster.local"}}
	manual := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "manual"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	for _, s := range []client.Object{ext, manual} {
		if err := k8s.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	target(t, ns, "ext", "refs", routeTo("/ext", "ext"))
	target(t, ns, "manual", "refs", routeTo("/manual", "manual"))
	for _, name := range []string{"ext", "manual"} {
		eventually(t, name+": BackendNotAllowed", getTarget(ns, name), func(tg *platformv1.ApiAggregatorTarget) string {
			return cond(tg, platformv1.ConditionResolvedRefs, metav1.ConditionFalse, platformv1.ReasonBackendNotAllowed)
		})
		if rs, _ := httpRoutes(ns, name)(); len(rs) != 0 {
			t.Errorf("%s: a refused backend is rendered: %v", name, paths(rs))
		}
	}
}

// TestInvalidPathIsRefusedAtAdmission names the field.
func TestInvalidPathIsRefusedAtAdmission(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "invalid", nil)
	for _, p := range []string{"orders", "/a/../b", "/a//b", "/a b", "/a/./b"} {
		tg := &platformv1.ApiAggregatorTarget{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"},
			Spec: platformv1.ApiAggregatorTargetSpec{AggregatorRef: "x", Routes: []platformv1.ApiRoute{routeTo(p, "api")}}}
		err := k8s.Create(context.Background(), tg)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.routes[0].path") && !strings.Contains(err.Error(), "spec.routes[0]") {
			t.Errorf("path %q: %v, want Invalid naming spec.routes[0].path", p, err)
		}
	}
	a := &platformv1.ApiAggregator{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "wild"},
		Spec: platformv1.ApiAggregatorSpec{Hostname: "*.example.com"}}
	if err := k8s.Create(context.Background(), a); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.hostname") {
		t.Errorf("wildcard hostname: %v, want Invalid naming spec.hostname", err)
	}
}

// TestFirstOfTwoAggregatorsOwnsTheHostname, and the second takes it when
// the first goes.
func TestFirstOfTwoAggregatorsOwnsTheHostname(t *testing.T) {
	t.Parallel()
	first := aggregatorFor(t, "first", "api.shared.test", nil)
	eventually(t, "the first is accepted", getAggregator("first"), func(a *platformv1.ApiAggregator) string {
		return cond(a, platformv1.ConditionAccepted, metav1.ConditionTrue, "")
	})
	aggregatorFor(t, "second", "api.shared.test", nil)
	eventually(t, "the second is refused", getAggregator("second"), func(a *platformv1.ApiAggregator) string {
		return cond(a, platformv1.ConditionAccepted, metav1.ConditionFalse, platformv1.ReasonHostnameConflict)
	})
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: platformNamespace, Name: "second"}, &gatewayv1.Gateway{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused aggregator has a Gateway: %v", err)
	}
	if err := k8s.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second takes the hostname", getAggregator("second"), func(a *platformv1.ApiAggregator) string {
		return cond(a, platformv1.ConditionAccepted, metav1.ConditionTrue, "")
	})
}
