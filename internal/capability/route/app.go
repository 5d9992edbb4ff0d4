package route

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
)

// PostgRESTPort is the container (and Service) port of an app's PostgREST.
const PostgRESTPort = 3001

// AppSpec is what an app (or a preview) asks of the route capability.
type AppSpec struct {
	// API is spec.api; nil removes the app's target.
	API *platformv1.ApplicationAPI
	// Name of the target (the app's name) and of the app's Service.
	Name, Service string
	// AppPort is the app container's port (Service port 80); PostgREST
	// says whether 3001 is served too.
	AppPort   int32
	PostgREST bool
	// Prefix goes before every path: a preview's /preview/<app>/pr-<N>.
	Prefix string
}

// servicePort maps an app container port to the Service's.
func (s AppSpec) servicePort(i int, port int32) (int32, error) {
	switch {
	case port == 0 || port == s.AppPort:
		return 80, nil
	case port == PostgRESTPort && s.PostgREST:
		return PostgRESTPort, nil
	}
	return 0, capability.Terminal(fmt.Errorf("spec.api.routes[%d].port %d is not a port of the app: use spec.port (%d) or %d (PostgREST, with spec.database.enabled)",
		i, port, s.AppPort, PostgRESTPort))
}

// DesiredTarget is the app's ApiAggregatorTarget spec.
func (s AppSpec) DesiredTarget() (platformv1.ApiAggregatorTargetSpec, error) {
	spec := platformv1.ApiAggregatorTargetSpec{AggregatorRef: s.API.Aggregator}
	for i, r := range s.API.Routes {
		port, err := s.servicePort(i, r.Port)
		if err != nil {
			return spec, err
		}
		path := r.Path
		if s.Prefix != "" {
			path = strings.TrimRight(s.Prefix, "/") + path
		}
		spec.Routes = append(spec.Routes, platformv1.ApiRoute{
			Path: path, PathType: cmpOr(r.PathType, platformv1.ApiPathPrefix),
			Service: platformv1.ApiRouteService{Name: s.Service, Port: port},
		})
	}
	return spec, nil
}

func cmpOr(a, b platformv1.ApiPathType) platformv1.ApiPathType {
	if a == "" {
		return b
	}
	return a
}

// EnsureApp keeps the app's ApiAggregatorTarget equal to spec.api (or
// deletes it) and sets the owner's ApiReady from the target's status:
// True when Accepted with ResolvedRefs and at least one Active path (a
// partial conflict keeps it True and names the lost paths); Programmed is
// the data plane's and never blocks it.
func EnsureApp(ctx context.Context, k capability.Kube, t capability.Target, s AppSpec) error {
	live := &platformv1.ApiAggregatorTarget{}
	err := k.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: s.Name}, live)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	found := err == nil
	if found && !t.Owns(live) {
		capability.SetCondition(t.Owner, platformv1.ConditionApiReady, metav1.ConditionFalse, platformv1.ReasonApplyFailed,
			fmt.Sprintf("ApiAggregatorTarget %s exists and is not this app's; delete or rename it", s.Name))
		return capability.Terminal(fmt.Errorf("%w: ApiAggregatorTarget %s/%s", capability.ErrControlledByOther, t.Namespace, s.Name))
	}
	if s.API == nil {
		capability.SetCondition(t.Owner, platformv1.ConditionApiReady, metav1.ConditionTrue, platformv1.ReasonDisabled, "spec.api is not set")
		if found {
			return client.IgnoreNotFound(k.Client.Delete(ctx, live, client.Preconditions{UID: ptr.To(live.UID)}))
		}
		return nil
	}
	spec, err := s.DesiredTarget()
	if err != nil {
		capability.SetCondition(t.Owner, platformv1.ConditionApiReady, metav1.ConditionFalse, platformv1.ReasonInvalidPath, err.Error())
		return err
	}
	switch {
	case !found:
		live = &platformv1.ApiAggregatorTarget{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: s.Name, Labels: t.Labels,
				OwnerReferences: []metav1.OwnerReference{controllerRef(t.Controller)}},
			Spec: spec,
		}
		if err := k.Client.Create(ctx, live, client.FieldOwner(capability.FieldManager)); err != nil {
			return err
		}
	case !equality.Semantic.DeepEqual(live.Spec, spec):
		live.Spec = spec
		if err := k.Client.Update(ctx, live, client.FieldOwner(capability.FieldManager)); err != nil {
			return err
		}
	}
	status, reason, msg := appReady(live)
	capability.SetCondition(t.Owner, platformv1.ConditionApiReady, status, reason, msg)
	return nil
}

func controllerRef(ref metav1.OwnerReference) metav1.OwnerReference {
	ref.Controller, ref.BlockOwnerDeletion = ptr.To(true), ptr.To(true)
	return ref
}

// appReady reads ApiReady off the target's status (of its generation).
func appReady(tg *platformv1.ApiAggregatorTarget) (metav1.ConditionStatus, string, string) {
	waiting := fmt.Sprintf("waiting for ApiAggregatorTarget %s", tg.Name)
	if tg.Status.ObservedGeneration != tg.Generation {
		return metav1.ConditionFalse, platformv1.ReasonNotReady, waiting
	}
	for _, typ := range []string{platformv1.ConditionAccepted, platformv1.ConditionResolvedRefs} {
		c := capability.Condition(tg, typ)
		if c == nil {
			return metav1.ConditionFalse, platformv1.ReasonNotReady, waiting
		}
		if c.Status != metav1.ConditionTrue {
			return metav1.ConditionFalse, c.Reason, fmt.Sprintf("ApiAggregatorTarget %s: %s", tg.Name, c.Message)
		}
	}
	var active, lost []string
	for _, r := range tg.Status.Routes {
		switch r.State {
		case platformv1.ApiRouteActive:
			active = append(active, r.Path)
		case platformv1.ApiRouteConflicted:
			lost = append(lost, fmt.Sprintf("%s (held by %s)", r.Path, r.Owner))
		}
	}
	if len(active) == 0 {
		return metav1.ConditionFalse, platformv1.ReasonNoActivePath, fmt.Sprintf("no path of the app is served on %s: %s", tg.Status.Hostname, strings.Join(lost, ", "))
	}
	msg := fmt.Sprintf("%s served on %s", strings.Join(active, ", "), tg.Status.Hostname)
	if len(lost) > 0 {
		msg += "; lost " + strings.Join(lost, ", ")
	}
	return metav1.ConditionTrue, platformv1.ReasonProvisioned, msg
}
