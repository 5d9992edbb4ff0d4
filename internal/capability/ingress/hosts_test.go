package ingress_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/capability/ingress"
)

// claims is a fixed answer of who claims which host.
type claims map[string][]ingress.Claim

func (c claims) HostClaims(_ context.Context, host string) ([]ingress.Claim, error) {
	return c[host], nil
}

// Each rule of hosts.go, on the fake client: the reason, the field named,
// and that a refused host gets no Ingress.
func TestHostRules(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	older, newer := metav1.NewTime(t0.Add(-time.Hour)), metav1.NewTime(t0.Add(time.Hour))
	tenant := &platformv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "team"}, Spec: platformv1.TenantSpec{Domains: []string{"team.example.com"}}}
	tests := []struct {
		name, domain, tenant string
		claims               claims
		wantReason           string // "" for allowed
		wantIn               string
	}{
		{name: "generated host", wantReason: ""},
		{name: "the identity provider's host", domain: "login.example.com", wantReason: platformv1.ReasonHostConflict, wantIn: "spec.domain login.example.com is reserved"},
		{name: "another app's generated host", domain: "victim.staging.apps.example.com", wantReason: platformv1.ReasonDomainNotAllowed, wantIn: "inside apps.example.com"},
		{name: "outside the allowed suffixes", domain: "shop.example.net", wantReason: platformv1.ReasonDomainNotAllowed, wantIn: "not under example.org"},
		{name: "under an allowed suffix", domain: "shop.example.org"},
		{name: "under another tenant's domains", domain: "x.team.example.com", wantReason: platformv1.ReasonDomainNotAllowed, wantIn: "another tenant"},
		{name: "under the tenant's own domains", domain: "x.team.example.com", tenant: "team"},
		{name: "a tenant's app outside its domains", domain: "shop.example.org", tenant: "team", wantReason: platformv1.ReasonDomainNotAllowed, wantIn: "tenant team"},
		{name: "served by another Ingress", domain: "shop.example.org", claims: claims{"shop.example.org": {
			{Kind: "Ingress", Namespace: "other", Name: "a", Controller: "uid-a", Serving: true, Created: newer, UID: "i-a"}}},
			wantReason: platformv1.ReasonHostConflict, wantIn: "claimed by Ingress other/a"},
		{name: "asked for by an older app", domain: "shop.example.org", claims: claims{"shop.example.org": {
			{Kind: "Application", Namespace: "other", Name: "a", Controller: "uid-a", Created: older, UID: "uid-a"}}},
			wantReason: platformv1.ReasonHostConflict, wantIn: "asked for it first"},
		{name: "asked for by a newer app", domain: "shop.example.org", claims: claims{"shop.example.org": {
			{Kind: "Application", Namespace: "other", Name: "a", Controller: "uid-a", Created: newer, UID: "uid-a"}}}},
		{name: "own route older than the other's", domain: "shop.example.org", claims: claims{"shop.example.org": {
			{Kind: "Ingress", Namespace: "shop", Name: "web", Controller: "uid-web", Serving: true, Created: older, UID: "i-web"},
			{Kind: "Ingress", Namespace: "other", Name: "a", Controller: "uid-a", Serving: true, Created: newer, UID: "i-a"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			app := capabilitytest.App("shop", "web")
			app.CreationTimestamp = t0
			env := capabilitytest.NewEnv(t, tenant)
			c := &ingress.Capability{Kube: env.Kube, Class: "nginx", ClusterIssuer: "le", Hosts: ingress.Hosts{
				BaseDomain: "apps.example.com", Reserved: []string{"login.example.com"}, AllowedSuffixes: []string{"example.org"}, Claims: tt.claims,
			}}
			spec := ingress.Spec{Host: "web.staging.apps.example.com", Generated: "web.staging.apps.example.com", Tenant: tt.tenant,
				Service: "web", REST: "web.rest", TLSSecret: "web-tls"}
			if tt.domain != "" {
				spec.Host = tt.domain
			}
			err := c.Ensure(ctx, capabilitytest.Target(app), spec, true)
			cond := capabilitytest.Condition(t, app, platformv1.ConditionIngressReady)
			exists := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, &networkingv1.Ingress{}) == nil
			if tt.wantReason == "" {
				if err != nil || cond.Status != metav1.ConditionTrue || !exists {
					t.Fatalf("want the host routed: err %v, %s %s, Ingress %v", err, cond.Reason, cond.Message, exists)
				}
				return
			}
			if !errors.Is(err, ingress.ErrHostRefused) || !capability.IsTerminal(err) {
				t.Errorf("error %v; want a terminal ErrHostRefused", err)
			}
			if cond.Reason != tt.wantReason || !strings.Contains(cond.Message, tt.wantIn) {
				t.Errorf("IngressReady %s: %s; want %s saying %q", cond.Reason, cond.Message, tt.wantReason, tt.wantIn)
			}
			if exists {
				t.Error("an Ingress was written for a refused host")
			}
		})
	}
}

// Two routes of one host, both written before either saw the other: the
// newer one's owner removes its own and is refused; the older keeps it.
func TestRaceLoserRemovesItsRoute(t *testing.T) {
	ctx := context.Background()
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t)
	c := &ingress.Capability{Kube: env.Kube, Class: "nginx", ClusterIssuer: "le", Hosts: ingress.Hosts{AllowedSuffixes: []string{"example.org"}}}
	spec := ingress.Spec{Host: "shop.example.org", Generated: "web.apps.example.com", Service: "web", REST: "web.rest", TLSSecret: "web-tls"}
	if err := c.Ensure(ctx, capabilitytest.Target(app), spec, true); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	c.Hosts.Claims = claims{"shop.example.org": {
		{Kind: "Ingress", Namespace: "shop", Name: "web", Controller: app.UID, Serving: true, Created: now, UID: "i-web"},
		{Kind: "Ingress", Namespace: "other", Name: "a", Controller: "uid-a", Serving: true, Created: now, UID: "i-a"}}}
	if err := c.Ensure(ctx, capabilitytest.Target(app), spec, true); !errors.Is(err, ingress.ErrHostRefused) {
		t.Fatalf("error %v; want the newer (by UID on a tie) refused", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, &networkingv1.Ingress{}); err == nil {
		t.Error("the loser's Ingress of the host is still there")
	}
}
