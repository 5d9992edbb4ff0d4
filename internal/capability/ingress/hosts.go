package ingress

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/naming"
)

// A host is a claim on DNS and on a certificate: external-dns and
// cert-manager act on whatever host an Ingress names. So before a route is
// written its host is checked, in this order:
//
//  1. not one of the platform's own hosts (the API, the identity
//     provider, RESERVED_HOSTS): HostConflict;
//  2. a custom spec.domain is not inside the generated app-host zone
//     (BASE_DOMAIN and below: those are other apps' generated hosts), not
//     under another tenant's spec.domains, and under a suffix the owner may
//     use — its tenant's spec.domains, or ALLOWED_DOMAIN_SUFFIXES in a
//     shared namespace: DomainNotAllowed;
//  3. nobody else serves or asked for it first: HostConflict.
//
// "First" is deterministic, so two owners never take turns: whoever routes
// the host now (an Ingress, Gateway listener or HTTPRoute naming it) comes
// before whoever only asks for it, the older route before the newer, and
// among owners that only ask, the older owner (creationTimestamp, then
// UID). The loser writes no route and removes its own routes of that host.

// Hosts is the platform's host policy.
type Hosts struct {
	// BaseDomain is the generated app-host zone.
	BaseDomain string
	// Reserved are the platform's own hosts.
	Reserved []string
	// AllowedSuffixes are the suffixes of custom domains of owners in
	// shared namespaces.
	AllowedSuffixes []string
	// Claims finds who else serves or asks for a host; nil skips the check.
	Claims Claims
}

// Claim is one object serving a host, or asking for it.
type Claim struct {
	Kind, Namespace, Name string
	// Controller is the UID of the object's controller (for an
	// Application, its own UID): the owner whose claim it is.
	Controller types.UID
	// Serving: the object routes the host now; false for an owner that
	// asks for it but has no route yet.
	Serving bool
	Created metav1.Time
	UID     types.UID
}

// Claims finds every claim on a host, across all namespaces.
type Claims interface {
	HostClaims(ctx context.Context, host string) ([]Claim, error)
}

// before orders claims: serving first, then older, then by UID.
func (a Claim) before(b Claim) bool {
	if a.Serving != b.Serving {
		return a.Serving
	}
	if !a.Created.Equal(&b.Created) {
		return a.Created.Before(&b.Created)
	}
	return a.UID < b.UID
}

// ErrHostRefused: the owner's host may not be routed; IngressReady says why.
var ErrHostRefused = errors.New("host refused")

// checkHost applies the rules above. A refusal sets IngressReady and is a
// capability.Terminal error: the spec has to change (or the other claim
// go) before a retry can succeed.
func (c *Capability) checkHost(ctx context.Context, t capability.Target, spec Spec) error {
	host := naming.NormalizeHost(spec.Host)
	custom := spec.Generated != "" && host != naming.NormalizeHost(spec.Generated)
	field := "the generated host " + host
	fix := "ask the platform team"
	if custom {
		field = "spec.domain " + host
		fix = "choose another spec.domain, or remove it to use the generated host " + spec.Generated
	}
	refuse := func(reason, msg string) error {
		t.SetCondition(platformv1.ConditionIngressReady, metav1.ConditionFalse, reason, msg)
		return capability.Terminal(fmt.Errorf("%w: %s", ErrHostRefused, msg))
	}
	if slices.ContainsFunc(c.Hosts.Reserved, func(r string) bool { return naming.NormalizeHost(r) == host }) {
		return refuse(platformv1.ReasonHostConflict, fmt.Sprintf("%s is reserved for the platform's own services; %s", field, fix))
	}
	if custom {
		if msg, err := c.domainAllowed(ctx, host, spec.Tenant); err != nil || msg != "" {
			if err != nil {
				t.SetCondition(platformv1.ConditionIngressReady, metav1.ConditionFalse, platformv1.ReasonAPIError, fmt.Sprintf("reading Tenants: %v", err))
				return err
			}
			return refuse(platformv1.ReasonDomainNotAllowed, fmt.Sprintf("spec.domain %s %s; choose a domain under an allowed suffix, or remove spec.domain to use the generated host %s", host, msg, spec.Generated))
		}
	}
	if c.Hosts.Claims == nil {
		return nil
	}
	claims, err := c.Hosts.Claims.HostClaims(ctx, host)
	if err != nil {
		t.SetCondition(platformv1.ConditionIngressReady, metav1.ConditionFalse, platformv1.ReasonAPIError, fmt.Sprintf("looking up who serves %s: %v", host, err))
		return err
	}
	// The owner's own claim: its oldest route of the host, or itself.
	self := Claim{Controller: t.Controller.UID, Created: t.Owner.GetCreationTimestamp(), UID: t.Owner.GetUID()}
	var own []Claim
	for _, cl := range claims {
		if cl.Controller == t.Controller.UID && cl.Serving {
			own = append(own, cl)
			if !self.Serving || cl.before(self) {
				self = cl
			}
		}
	}
	var first *Claim
	for i, cl := range claims {
		if cl.Controller == t.Controller.UID || !cl.before(self) {
			continue
		}
		if first == nil || cl.before(*first) {
			first = &claims[i]
		}
	}
	if first == nil {
		return nil
	}
	// Lost: a route of this owner for the host (a race both sides wrote
	// before seeing the other) goes, so the host has one owner.
	for _, cl := range own {
		if cl.Kind == "Ingress" && cl.Namespace == t.Namespace {
			if err := c.Delete(ctx, t, &networkingv1.Ingress{}, cl.Name); err != nil {
				return err
			}
		}
	}
	by := fmt.Sprintf("%s %s/%s", first.Kind, first.Namespace, first.Name)
	if !first.Serving {
		by += " (which asked for it first)"
	}
	return refuse(platformv1.ReasonHostConflict, fmt.Sprintf("%s is already claimed by %s; %s", field, by, fix))
}

// domainAllowed says why a custom domain is not allowed ("" if it is).
func (c *Capability) domainAllowed(ctx context.Context, host, tenant string) (string, error) {
	if base := c.Hosts.BaseDomain; base != "" && naming.HostWithin(host, base) {
		return fmt.Sprintf("is inside %s, where the platform generates every app's host", base), nil
	}
	tenants := &platformv1.TenantList{}
	if err := c.Client.List(ctx, tenants); err != nil && !meta.IsNoMatchError(err) {
		return "", err
	}
	var own []string
	for _, tn := range tenants.Items {
		if tn.Name == tenant {
			own = tn.Spec.Domains
			continue
		}
		for _, d := range tn.Spec.Domains {
			if naming.HostWithin(host, d) {
				return fmt.Sprintf("is under %s, a domain of another tenant", d), nil
			}
		}
	}
	allowed := c.Hosts.AllowedSuffixes
	where := "ALLOWED_DOMAIN_SUFFIXES"
	if tenant != "" {
		allowed, where = own, "the spec.domains of tenant "+tenant
	}
	if slices.ContainsFunc(allowed, func(s string) bool { return naming.HostWithin(host, s) }) {
		return "", nil
	}
	if len(allowed) == 0 {
		return fmt.Sprintf("is not allowed: no custom domains are allowed here (%s is empty)", where), nil
	}
	return fmt.Sprintf("is not under %s (%s)", strings.Join(allowed, ", "), where), nil
}
