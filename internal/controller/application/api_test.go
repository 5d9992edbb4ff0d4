package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// TestAppWithSpecAPIReachesRunningWithApiReady: spec.api becomes the app's
// ApiAggregatorTarget (the app's Service, port 80 for spec.port and 3001
// for PostgREST), the app is Running with ApiReady=True and its path
// Active; removing spec.api removes the target and its HTTPRoutes.
func TestAppWithSpecAPIReachesRunningWithApiReady(t *testing.T) {
	startOperator(t)
	ctx := context.Background()
	agg := &platformv1.ApiAggregator{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "apptest"},
		Spec: platformv1.ApiAggregatorSpec{Hostname: "api.apptest." + baseDomain, NamespaceSelector: &metav1.LabelSelector{}}}
	if err := k8s.Create(ctx, agg); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	ns := newNamespace(t)
	app := newApp(ns, "orders", func(a *platformv1.Application) {
		a.Spec.API = &platformv1.ApplicationAPI{Aggregator: "apptest", Routes: []platformv1.ApplicationAPIRoute{
			{Path: "/orders"}, {Path: "/orders-db", Port: 3001},
		}}
	})
	create(t, app)
	got := waitPhase(t, ns, "orders", platformv1.PhaseRunning, runningTimeout)
	if c := condition(got, platformv1.ConditionApiReady); c.Status != metav1.ConditionTrue {
		t.Errorf("ApiReady = %s/%s: %s", c.Status, c.Reason, c.Message)
	}
	tg := &platformv1.ApiAggregatorTarget{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, tg); err != nil {
		t.Fatal(err)
	}
	if r := tg.Spec.Routes; len(r) != 2 || r[0].Service.Name != "orders" || r[0].Service.Port != 80 || r[1].Service.Port != 3001 {
		t.Errorf("target routes %+v: want the app's Service, ports 80 and 3001", r)
	}
	if len(tg.Status.Routes) != 2 || tg.Status.Routes[0].State != platformv1.ApiRouteActive {
		t.Errorf("target status routes %+v, want Active", tg.Status.Routes)
	}
	if !metav1.IsControlledBy(tg, got) {
		t.Errorf("the target is not controlled by the app: %v", tg.OwnerReferences)
	}

	update(t, client.ObjectKey{Namespace: ns, Name: "orders"}, &platformv1.Application{}, func(a *platformv1.Application) { a.Spec.API = nil })
	eventually(t, runningTimeout, "the target and its HTTPRoutes to go", func() error {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders"}, &platformv1.ApiAggregatorTarget{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("target still there (%v)", err)
		}
		a := getApp(t, ns, "orders")
		if c := condition(a, platformv1.ConditionApiReady); c.Status != metav1.ConditionTrue || c.Reason != platformv1.ReasonDisabled || c.ObservedGeneration != a.Generation {
			return fmt.Errorf("ApiReady %s/%s at generation %d", c.Status, c.Reason, c.ObservedGeneration)
		}
		return nil
	})
	// The HTTPRoutes follow their target (garbage collector).
	eventually(t, runningTimeout, "the HTTPRoutes to go", func() error {
		list := &gatewayv1.HTTPRouteList{}
		if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) > 0 {
			return fmt.Errorf("%d HTTPRoutes left", len(list.Items))
		}
		return nil
	})
}

// TestAnAggregatorsHostnameIsNotAnAppsDomain: the hostname of an
// ApiAggregator (its Gateway's listener) is a reserved host: an app's
// spec.domain cannot take it.
func TestAnAggregatorsHostnameIsNotAnAppsDomain(t *testing.T) {
	startOperator(t)
	ctx := context.Background()
	agg := &platformv1.ApiAggregator{ObjectMeta: metav1.ObjectMeta{Namespace: platformNamespace, Name: "reserved"},
		Spec: platformv1.ApiAggregatorSpec{Hostname: "api.reserved.example.org", NamespaceSelector: &metav1.LabelSelector{}}}
	if err := k8s.Create(ctx, agg); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	eventually(t, runningTimeout, "the aggregator's Gateway", func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: platformNamespace, Name: "reserved"}, &gatewayv1.Gateway{})
	})
	ns := newNamespace(t)
	create(t, newApp(ns, "squatter", func(a *platformv1.Application) { a.Spec.Domain = "api.reserved.example.org" }))
	c := waitIngressReason(t, ns, "squatter", platformv1.ReasonHostConflict)
	if !strings.Contains(c.Message, "Gateway") {
		t.Errorf("message does not name the Gateway: %s", c.Message)
	}
	if ing := ingressesWithHost(t, "api.reserved.example.org"); len(ing) > 0 {
		t.Errorf("Ingress %s/%s routes the aggregator's host", ing[0].Namespace, ing[0].Name)
	}
}
