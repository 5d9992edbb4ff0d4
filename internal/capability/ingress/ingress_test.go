package ingress_test

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/capability/ingress"
)

// PostgREST switched on then off: its route comes and goes, the main one
// stays; a route of the same name that Plattr does not own is left alone.
func TestRESTRouteFollowsTheDatabase(t *testing.T) {
	ctx := context.Background()
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t)
	c := &ingress.Capability{Kube: env.Kube, Class: "nginx", ClusterIssuer: "letsencrypt"}
	target := capabilitytest.Target(app)
	spec := ingress.Spec{Host: "web.example.com", Service: "web", REST: "web-api", PostgREST: true, TLSSecret: "web-tls"}
	exists := func(name string) bool {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: name}, &networkingv1.Ingress{}) == nil
	}

	if err := c.Ensure(ctx, target, spec, false); err != nil {
		t.Fatal(err)
	}
	if cond := capabilitytest.Condition(t, app, platformv1.ConditionIngressReady); cond.Reason != platformv1.ReasonWaitingForWorkload || exists("web") {
		t.Fatalf("before the workload is up: %s, Ingress exists %v", cond.Reason, exists("web"))
	}
	if err := c.Ensure(ctx, target, spec, true); err != nil {
		t.Fatal(err)
	}
	if !exists("web") || !exists("web-api") {
		t.Fatalf("routes web %v, web-api %v; want both", exists("web"), exists("web-api"))
	}
	spec.PostgREST = false
	if err := c.Ensure(ctx, target, spec, true); err != nil {
		t.Fatal(err)
	}
	if !exists("web") || exists("web-api") {
		t.Fatalf("after PostgREST is off: web %v, web-api %v; want only web", exists("web"), exists("web-api"))
	}
	if cond := capabilitytest.Condition(t, app, platformv1.ConditionIngressReady); cond.Status != metav1.ConditionTrue {
		t.Errorf("IngressReady %s: %s", cond.Status, cond.Message)
	}

	foreign := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-api"}}
	if err := env.Client.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	if err := c.Ensure(ctx, target, spec, true); err != nil {
		t.Fatal(err)
	}
	if !exists("web-api") {
		t.Error("an Ingress Plattr does not own was deleted")
	}
}
