package aggregator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/route"
	"github.com/plattr/plattr/internal/controller/kit"
)

// TargetReconciler reconciles ApiAggregatorTargets.
type TargetReconciler struct {
	kit.Deps
	kit *kit.Kit[*platformv1.ApiAggregatorTarget]
}

// SetupWithManager registers the controller. Reconciles run one at a time:
// each decides over every target of its aggregator, and two deciding at
// once could each record a claim the other has not seen.
func (r *TargetReconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	r.kit = kit.New("apiaggregatortarget", r.Deps, func() *platformv1.ApiAggregatorTarget { return &platformv1.ApiAggregatorTarget{} })
	return ctrl.NewControllerManagedBy(mgr).
		// A change of any target (its recorded claims included) or its
		// deletion recomputes the decision for every target of its
		// aggregator: deleting the winner promotes the next.
		Named("apiaggregatortarget").
		For(&platformv1.ApiAggregatorTarget{}).
		Watches(&platformv1.ApiAggregatorTarget{}, handler.EnqueueRequestsFromMapFunc(r.siblings)).
		// An aggregator matters to its targets through its spec and whether
		// it is accepted, not through its counts: those change with every
		// target's status, and would bring every target back each time.
		Watches(&platformv1.ApiAggregator{}, handler.EnqueueRequestsFromMapFunc(r.ofAggregator),
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, acceptedChanged))).
		Owns(&gatewayv1.HTTPRoute{}).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.inNamespace)).
		WithOptions(controller.Options{SkipNameValidation: &skipNameValidation, MaxConcurrentReconciles: 1}).
		Complete(r)
}

func (r *TargetReconciler) siblings(ctx context.Context, o client.Object) []ctrl.Request {
	return r.targetsOf(ctx, o.(*platformv1.ApiAggregatorTarget).Spec.AggregatorRef, o)
}

func (r *TargetReconciler) ofAggregator(ctx context.Context, o client.Object) []ctrl.Request {
	if o.GetNamespace() != r.Config.PlatformNamespace {
		return nil
	}
	return r.targetsOf(ctx, o.GetName(), nil)
}

func (r *TargetReconciler) targetsOf(ctx context.Context, aggregator string, self client.Object) []ctrl.Request {
	list := &platformv1.ApiAggregatorTargetList{}
	if err := r.List(ctx, list, client.MatchingFields{AggregatorRefIndex: aggregator}); err != nil {
		return nil
	}
	out := make([]ctrl.Request, 0, len(list.Items)+1)
	if self != nil {
		out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(self)})
	}
	for i := range list.Items {
		out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

func (r *TargetReconciler) inNamespace(ctx context.Context, o client.Object) []ctrl.Request {
	list := &platformv1.ApiAggregatorTargetList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []ctrl.Request
	for i := range list.Items {
		out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// acceptedChanged passes an aggregator event whose Accepted condition
// changed status.
var acceptedChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	status := func(o client.Object) metav1.ConditionStatus {
		if c := capability.Condition(o.(*platformv1.ApiAggregator), platformv1.ConditionAccepted); c != nil {
			return c.Status
		}
		return ""
	}
	return status(e.ObjectOld) != status(e.ObjectNew)
}}

// Reconcile decides the target's paths against every other target of its
// aggregator and renders the ones it owns.
func (r *TargetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	// Read past the cache: the claim times this target recorded are what
	// keeps its paths, and a cache that has not seen its last status write
	// would make them look new (and record a later time over them).
	t := &platformv1.ApiAggregatorTarget{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, t); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !t.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // its HTTPRoutes go with it (owner reference)
	}
	run := kit.Begin(t)
	v := kit.Verdict{Settle: settle}
	o := owner(t, "ApiAggregatorTarget")
	o.Labels = map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue, platformv1.LabelApiTarget: t.Name,
		platformv1.LabelApiAggregator: t.Spec.AggregatorRef}
	cluster := &kubeCluster{r: r, t: t, o: o, settled: run.Settled}

	a, reason, msg, err := r.admit(ctx, t)
	if err != nil {
		run.Fail(err)
		v.NotReady = &metav1.Condition{Type: platformv1.ConditionAccepted, Reason: platformv1.ReasonNotReady, Message: err.Error()}
		result, ferr := r.kit.Finish(run, v)
		return result, errors.Join(ferr, r.kit.Patch(ctx, run))
	}
	if reason != "" {
		// Not attached: nothing of it is served.
		capability.SetCondition(t, platformv1.ConditionAccepted, metav1.ConditionFalse, reason, msg)
		if _, err := route.Ensure(ctx, cluster, t.Namespace, t.Name, o, route.Parent{}, nil); err != nil {
			run.Fail(err)
		}
		t.Status.Routes, t.Status.HTTPRoutes, t.Status.Hostname = nil, nil, ""
		for _, c := range []string{platformv1.ConditionConflicted, platformv1.ConditionResolvedRefs, platformv1.ConditionProgrammed} {
			capability.SetCondition(t, c, metav1.ConditionUnknown, reason, "not accepted")
		}
		run.Waiting = true
		v.NotReady = capability.Condition(t, platformv1.ConditionAccepted)
		result, ferr := r.kit.Finish(run, v)
		return result, errors.Join(ferr, r.kit.Patch(ctx, run))
	}
	capability.SetCondition(t, platformv1.ConditionAccepted, metav1.ConditionTrue, platformv1.ReasonAccepted,
		fmt.Sprintf("attached to ApiAggregator %s (%s)", a.Name, a.Spec.Hostname))

	verdicts, err := r.decide(ctx, t, a)
	if err != nil {
		run.Fail(err)
	}
	wants := make([]route.Want, len(t.Spec.Routes))
	for i, rt := range t.Spec.Routes {
		wants[i] = route.Want{Route: rt, Verdict: verdicts[i]}
	}
	out, err := route.Ensure(ctx, cluster, t.Namespace, t.Name, o, parentOf(a), wants)
	if err != nil {
		run.Fail(err)
	}
	t.Status.Hostname, t.Status.Routes, t.Status.HTTPRoutes = a.Spec.Hostname, out.Routes, out.HTTPRoutes
	var lost []string
	for _, rs := range out.Routes {
		if rs.State == platformv1.ApiRouteConflicted {
			lost = append(lost, fmt.Sprintf("%s (held by %s)", rs.Path, rs.Owner))
		}
	}
	if len(lost) > 0 {
		capability.SetCondition(t, platformv1.ConditionConflicted, metav1.ConditionTrue, platformv1.ReasonPathConflict,
			"lost "+strings.Join(lost, ", ")+"; the other paths are served")
	} else {
		capability.SetCondition(t, platformv1.ConditionConflicted, metav1.ConditionFalse, platformv1.ReasonNoConflict, "every path is this target's")
	}
	if out.UnresolvedReason != "" {
		capability.SetCondition(t, platformv1.ConditionResolvedRefs, metav1.ConditionFalse, out.UnresolvedReason, out.UnresolvedMessage)
	} else {
		capability.SetCondition(t, platformv1.ConditionResolvedRefs, metav1.ConditionTrue, platformv1.ReasonResolvedRefs, "every Service resolves")
	}
	capability.SetCondition(t, platformv1.ConditionProgrammed, out.Programmed, out.ProgrammedReason, out.ProgrammedMessage)

	v.NotReady = kit.FirstNotReady(t, platformv1.ConditionAccepted, platformv1.ConditionResolvedRefs)
	if v.NotReady == nil && out.Active == 0 {
		v.NotReady = &metav1.Condition{Type: "Routes", Reason: platformv1.ReasonNoActivePath, Message: "no path is this target's: see status.routes"}
	}
	v.Ready = fmt.Sprintf("%d of %d paths served on %s", out.Active, len(t.Spec.Routes), a.Spec.Hostname)
	result, err := r.kit.Finish(run, v)

	return result, errors.Join(err, r.kit.Patch(ctx, run))
}

// admit finds the target's aggregator and checks its namespace may
// attach; a reason says why not.
func (r *TargetReconciler) admit(ctx context.Context, t *platformv1.ApiAggregatorTarget) (*platformv1.ApiAggregator, string, string, error) {
	a := &platformv1.ApiAggregator{}
	err := r.Get(ctx, client.ObjectKey{Namespace: r.Config.PlatformNamespace, Name: t.Spec.AggregatorRef}, a)
	switch {
	case apierrors.IsNotFound(err):
		return nil, platformv1.ReasonAggregatorNotFound, fmt.Sprintf("no ApiAggregator %s in %s: fix spec.aggregatorRef", t.Spec.AggregatorRef, r.Config.PlatformNamespace), nil
	case err != nil:
		return nil, "", "", err
	}
	if c := capability.Condition(a, platformv1.ConditionAccepted); c == nil || c.Status != metav1.ConditionTrue {
		return nil, platformv1.ReasonAggregatorNotFound, fmt.Sprintf("ApiAggregator %s is not accepted yet", a.Name), nil
	}
	ok, err := r.selected(ctx, a, t.Namespace, nil)
	if err != nil {
		return nil, "", "", err
	}
	if !ok {
		return nil, platformv1.ReasonNotAllowed, fmt.Sprintf("ApiAggregator %s does not let namespace %s attach (its namespaceSelector); ask the platform team", a.Name, t.Namespace), nil
	}
	return a, "", "", nil
}

// selected says whether a's namespaceSelector selects namespace; memo
// keeps the answers of one reconcile. Namespaces are read past the cache,
// which holds Plattr's own only.
func (r *TargetReconciler) selected(ctx context.Context, a *platformv1.ApiAggregator, namespace string, memo map[string]bool) (bool, error) {
	if ok, seen := memo[namespace]; seen {
		return ok, nil
	}
	if a.Spec.NamespaceSelector == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(a.Spec.NamespaceSelector)
	if err != nil {
		return false, nil
	}
	ns := &corev1.Namespace{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	ok := sel.Matches(labels.Set(ns.Labels))
	if memo != nil {
		memo[namespace] = ok
	}
	return ok, nil
}

// decide runs route.Decide over every target of a whose namespace may
// attach, with the claim times each recorded, and returns t's verdicts.
func (r *TargetReconciler) decide(ctx context.Context, t *platformv1.ApiAggregatorTarget, a *platformv1.ApiAggregator) ([]route.Verdict, error) {
	list := &platformv1.ApiAggregatorTargetList{}
	if err := r.List(ctx, list, client.MatchingFields{AggregatorRefIndex: a.Name}); err != nil {
		return nil, err
	}
	memo := map[string]bool{}
	var claimants []route.Claimant
	found := false
	for i := range list.Items {
		o := &list.Items[i]
		if o.Namespace == t.Namespace && o.Name == t.Name {
			o, found = t, true // this reconcile's view, not the cache's
		}
		if !o.DeletionTimestamp.IsZero() {
			continue
		}
		ok, err := r.selected(ctx, a, o.Namespace, memo)
		if err != nil {
			return nil, err
		}
		if ok {
			claimants = append(claimants, claimantOf(o))
		}
	}
	if !found {
		claimants = append(claimants, claimantOf(t))
	}
	now := r.kit.Now().UTC().Truncate(time.Second)
	return route.Decide(claimants, route.Rules{Reserved: a.Spec.ReservedPaths}, now)[route.Key{Namespace: t.Namespace, Name: t.Name}], nil
}

// claimantOf is a target's claims, each with the time its status recorded
// for that (pathType, normalized path).
func claimantOf(t *platformv1.ApiAggregatorTarget) route.Claimant {
	recorded := map[route.Path]time.Time{}
	for _, rs := range t.Status.Routes {
		if rs.ClaimedAt != nil {
			recorded[route.Path{Type: rs.PathType, Value: rs.Path}.Normalize()] = rs.ClaimedAt.Time
		}
	}
	c := route.Claimant{Key: route.Key{Namespace: t.Namespace, Name: t.Name}, Created: t.CreationTimestamp.Time}
	for _, rt := range t.Spec.Routes {
		p := route.Path{Type: rt.PathType, Value: rt.Path}.Normalize()
		c.Claims = append(c.Claims, route.Claim{Path: route.Path{Type: p.Type, Value: rt.Path}, Since: recorded[p]})
	}
	return c
}

// kubeCluster is route.Cluster on the API server.
type kubeCluster struct {
	r       *TargetReconciler
	t       *platformv1.ApiAggregatorTarget
	o       route.Owner
	settled bool
}

// Service reads past the cache: a team's own Services are not Plattr's.
func (k *kubeCluster) Service(ctx context.Context, namespace, name string) (*corev1.Service, error) {
	svc := &corev1.Service{}
	err := k.r.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, svc)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return svc, err
}

func (k *kubeCluster) Routes(ctx context.Context, namespace, target string) ([]gatewayv1.HTTPRoute, error) {
	list := &gatewayv1.HTTPRouteList{}
	err := k.r.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{platformv1.LabelApiTarget: target})
	return list.Items, err
}

func (k *kubeCluster) Apply(ctx context.Context, rt *gwac.HTTPRouteApplyConfiguration) error {
	t := capability.Target{Owner: k.t, Namespace: k.t.Namespace, Controller: k.o.Ref, Labels: k.o.Labels, Settled: k.settled}
	return capability.Apply(ctx, k.r.kube(), t, &gatewayv1.HTTPRoute{}, rt, gwac.ExtractHTTPRoute)
}

func (k *kubeCluster) Delete(ctx context.Context, rt *gatewayv1.HTTPRoute) error {
	return client.IgnoreNotFound(k.r.Client.Delete(ctx, rt, client.Preconditions{UID: &rt.UID}))
}

func (r *TargetReconciler) kube() capability.Kube {
	return capability.Kube{Client: r.Client, APIReader: r.APIReader, Recorder: r.Recorder}
}
