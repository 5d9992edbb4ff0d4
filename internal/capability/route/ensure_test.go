package route

import (
	"context"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// fakeCluster holds Services and HTTPRoutes in memory: Ensure's decisions
// are tested here, its effects on the real API server in the
// aggregator controller's tests.
type fakeCluster struct {
	services map[string]*corev1.Service
	routes   map[string]*gatewayv1.HTTPRoute
	applied  []string
	deleted  []string
}

func (f *fakeCluster) Service(_ context.Context, _, name string) (*corev1.Service, error) {
	return f.services[name], nil
}

func (f *fakeCluster) Routes(_ context.Context, _, _ string) ([]gatewayv1.HTTPRoute, error) {
	var out []gatewayv1.HTTPRoute
	for _, r := range f.routes {
		out = append(out, *r)
	}
	return out, nil
}

func (f *fakeCluster) Apply(_ context.Context, r *gwac.HTTPRouteApplyConfiguration) error {
	f.applied = append(f.applied, *r.Name)
	if f.routes[*r.Name] == nil {
		f.routes[*r.Name] = &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: *r.Name, Namespace: *r.Namespace,
			OwnerReferences: []metav1.OwnerReference{{UID: *r.OwnerReferences[0].UID, Controller: ptrTrue()}}}}
	}
	return nil
}

func (f *fakeCluster) Delete(_ context.Context, r *gatewayv1.HTTPRoute) error {
	f.deleted = append(f.deleted, r.Name)
	delete(f.routes, r.Name)
	return nil
}

func ptrTrue() *bool { b := true; return &b }

func svc(name string, mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80}}}}
	if mut != nil {
		mut(s)
	}
	return s
}

func want(path, service string, state platformv1.ApiRouteState) Want {
	return Want{
		Route:   platformv1.ApiRoute{Path: path, PathType: platformv1.ApiPathPrefix, Service: platformv1.ApiRouteService{Name: service, Port: 80}},
		Verdict: Verdict{Path: prefix(path), Since: t0, State: state},
	}
}

func TestEnsure(t *testing.T) {
	owner := Owner{Ref: metav1.OwnerReference{APIVersion: "platform.internal/v1alpha1", Kind: "ApiAggregatorTarget", Name: "t", UID: "t-uid"}}
	parent := Parent{Aggregator: "public", Namespace: "plattr-system", Gateway: "public", Hostname: "api.example.com"}
	many := make([]Want, 40)
	for i := range many {
		many[i] = want(fmt.Sprintf("/p%d", i), "web", platformv1.ApiRouteActive)
	}
	tests := []struct {
		name       string
		services   []*corev1.Service
		existing   []string
		wants      []Want
		states     []platformv1.ApiRouteState
		routes     []string
		deleted    []string
		unresolved string
	}{
		{
			name:     "active paths with a resolving Service are rendered",
			services: []*corev1.Service{svc("web", nil)},
			wants:    []Want{want("/a", "web", platformv1.ApiRouteActive), want("/b", "web", platformv1.ApiRouteConflicted)},
			states:   []platformv1.ApiRouteState{platformv1.ApiRouteActive, platformv1.ApiRouteConflicted},
			routes:   []string{"t-0"},
		},
		{
			name:     "40 paths give 3 HTTPRoutes",
			services: []*corev1.Service{svc("web", nil)},
			wants:    many,
			routes:   []string{"t-0", "t-1", "t-2"},
		},
		{
			name:       "a missing Service: BackendNotFound, the path is not rendered",
			wants:      []Want{want("/a", "gone", platformv1.ApiRouteActive)},
			states:     []platformv1.ApiRouteState{platformv1.ApiRouteInvalid},
			unresolved: platformv1.ReasonBackendNotFound,
		},
		{
			name: "an ExternalName Service is refused",
			services: []*corev1.Service{svc("ext", func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ExternalName, s.Spec.Selector = corev1.ServiceTypeExternalName, "kubernetes.default.svc", nil
			})},
			wants:      []Want{want("/a", "ext", platformv1.ApiRouteActive)},
			states:     []platformv1.ApiRouteState{platformv1.ApiRouteInvalid},
			unresolved: platformv1.ReasonBackendNotAllowed,
		},
		{
			name:       "a selector-less Service (hand-made EndpointSlices) is refused",
			services:   []*corev1.Service{svc("manual", func(s *corev1.Service) { s.Spec.Selector = nil })},
			wants:      []Want{want("/a", "manual", platformv1.ApiRouteActive)},
			states:     []platformv1.ApiRouteState{platformv1.ApiRouteInvalid},
			unresolved: platformv1.ReasonBackendNotAllowed,
		},
		{
			name:       "a port the Service lacks is BackendNotFound",
			services:   []*corev1.Service{svc("web", func(s *corev1.Service) { s.Spec.Ports[0].Port = 8080 })},
			wants:      []Want{want("/a", "web", platformv1.ApiRouteActive)},
			states:     []platformv1.ApiRouteState{platformv1.ApiRouteInvalid},
			unresolved: platformv1.ReasonBackendNotFound,
		},
		{
			name:     "routes no longer needed are deleted",
			services: []*corev1.Service{svc("web", nil)},
			existing: []string{"t-0", "t-1", "t-2"},
			wants:    []Want{want("/a", "web", platformv1.ApiRouteActive)},
			routes:   []string{"t-0"},
			deleted:  []string{"t-1", "t-2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeCluster{services: map[string]*corev1.Service{}, routes: map[string]*gatewayv1.HTTPRoute{}}
			for _, s := range tc.services {
				f.services[s.Name] = s
			}
			for _, n := range tc.existing {
				f.routes[n] = &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Name: n,
					OwnerReferences: []metav1.OwnerReference{{UID: "t-uid", Controller: ptrTrue()}}}}
			}
			out, err := Ensure(context.Background(), f, "team", "t", owner, parent, tc.wants)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tc.states {
				if out.Routes[i].State != st {
					t.Errorf("path %s: %s, want %s (%s)", out.Routes[i].Path, out.Routes[i].State, st, out.Routes[i].Message)
				}
			}
			if fmt.Sprint(out.HTTPRoutes) != fmt.Sprint(tc.routes) || fmt.Sprint(f.applied) != fmt.Sprint(tc.routes) {
				t.Errorf("rendered %v (applied %v), want %v", out.HTTPRoutes, f.applied, tc.routes)
			}
			slices.Sort(f.deleted)
			if fmt.Sprint(f.deleted) != fmt.Sprint(tc.deleted) {
				t.Errorf("deleted %v, want %v", f.deleted, tc.deleted)
			}
			if out.UnresolvedReason != tc.unresolved {
				t.Errorf("unresolved %q (%s), want %q", out.UnresolvedReason, out.UnresolvedMessage, tc.unresolved)
			}
			if len(tc.routes) > 0 && out.Programmed != metav1.ConditionUnknown {
				t.Errorf("Programmed = %s with no data plane report; Plattr must not claim it", out.Programmed)
			}
		})
	}
}

func TestHTTPRouteRendersEveryChunkWithinLimits(t *testing.T) {
	o := Owner{Ref: metav1.OwnerReference{Name: "t", UID: "u"}}
	p := Parent{Namespace: "plattr-system", Gateway: "public", Hostname: "api.example.com"}
	r := HTTPRoute("team", "t-0", o, p, []Rule{{Path: prefix("/orders"), RewritePrefix: "/", Service: "web", Port: 80}})
	if got := r.Spec.Hostnames; len(got) != 1 || got[0] != "api.example.com" {
		t.Errorf("hostnames %v", got)
	}
	ref := r.Spec.ParentRefs[0]
	if *ref.Name != "public" || *ref.Namespace != "plattr-system" || *ref.SectionName != ListenerName {
		t.Errorf("parentRef %+v", ref)
	}
	if f := r.Spec.Rules[0].Filters; len(f) != 1 || *f[0].URLRewrite.Path.ReplacePrefixMatch != "/" {
		t.Errorf("rewrite filter %+v", f)
	}
}
