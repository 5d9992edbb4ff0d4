// Package aggregator reconciles ApiAggregators (a hostname and the Gateway
// Plattr owns for it) and ApiAggregatorTargets (a team's paths on it,
// rendered as HTTPRoutes once route.Decide gave them to the team).
package aggregator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwac "sigs.k8s.io/gateway-api/applyconfiguration/apis/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/route"
	"github.com/plattr/plattr/internal/controller/kit"
)

// AggregatorRefIndex indexes ApiAggregatorTargets by spec.aggregatorRef, so
// a change of any target recomputes the decision for all of its aggregator.
const AggregatorRefIndex = "spec.aggregatorRef"

// AggregatorReconciler reconciles ApiAggregators.
type AggregatorReconciler struct {
	kit.Deps
	kit *kit.Kit[*platformv1.ApiAggregator]
}

// +kubebuilder:rbac:groups=platform.internal,resources=apiaggregators;apiaggregatortargets,verbs=get;list;watch
// +kubebuilder:rbac:groups=platform.internal,resources=apiaggregators/status;apiaggregatortargets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gateways;httproutes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;patch

// SetupIndexes registers the field index both reconcilers use; once per
// manager.
func SetupIndexes(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &platformv1.ApiAggregatorTarget{}, AggregatorRefIndex, func(o client.Object) []string {
		return []string{o.(*platformv1.ApiAggregatorTarget).Spec.AggregatorRef}
	})
}

// SetupWithManager registers the controller.
func (r *AggregatorReconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	r.kit = kit.New("apiaggregator", r.Deps, func() *platformv1.ApiAggregator { return &platformv1.ApiAggregator{} })
	return ctrl.NewControllerManagedBy(mgr).
		// Every change of an aggregator, its status included, comes back
		// to the aggregators of its namespace: the younger of two with one
		// hostname takes it when the older goes. A pass that changes
		// nothing writes nothing.
		For(&platformv1.ApiAggregator{}).
		Watches(&platformv1.ApiAggregator{}, handler.EnqueueRequestsFromMapFunc(r.sameNamespace)).
		Owns(&gatewayv1.Gateway{}).
		Watches(&platformv1.ApiAggregatorTarget{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []ctrl.Request {
			return []ctrl.Request{{NamespacedName: types.NamespacedName{Namespace: r.Config.PlatformNamespace, Name: o.(*platformv1.ApiAggregatorTarget).Spec.AggregatorRef}}}
		})).
		WithOptions(controller.Options{SkipNameValidation: &skipNameValidation}).
		Named("apiaggregator").
		Complete(r)
}

func (r *AggregatorReconciler) sameNamespace(ctx context.Context, o client.Object) []ctrl.Request {
	list := &platformv1.ApiAggregatorList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	var out []ctrl.Request
	for i := range list.Items {
		if a := &list.Items[i]; a.Name != o.GetName() {
			out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(a)})
		}
	}
	return out
}

// hostnameOwner is the aggregator of the platform namespace that owns a's
// hostname: the oldest (then the first by name) of those naming it.
func hostnameOwner(list []platformv1.ApiAggregator, a *platformv1.ApiAggregator) *platformv1.ApiAggregator {
	var owner *platformv1.ApiAggregator
	for i := range list {
		o := &list[i]
		if o.Spec.Hostname != a.Spec.Hostname || !o.DeletionTimestamp.IsZero() {
			continue
		}
		if owner == nil || o.CreationTimestamp.Before(&owner.CreationTimestamp) ||
			(o.CreationTimestamp.Equal(&owner.CreationTimestamp) && o.Name < owner.Name) {
			owner = o
		}
	}
	return owner
}

// Reconcile brings one aggregator's Gateway and status in line.
func (r *AggregatorReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	a := &platformv1.ApiAggregator{}
	if err := r.Get(ctx, req.NamespacedName, a); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !a.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the Gateway goes with it (owner reference)
	}
	run := kit.Begin(a)
	v := kit.Verdict{Ready: "Gateway " + a.Name + " serves " + a.Spec.Hostname}
	switch accepted, reason, msg := r.accept(ctx, a); {
	case !accepted:
		capability.SetCondition(a, platformv1.ConditionAccepted, metav1.ConditionFalse, reason, msg)
		setCond(a, platformv1.ConditionProgrammed, metav1.ConditionUnknown, platformv1.ReasonPending, "not accepted: no Gateway")
		run.Waiting = true
		v.NotReady = capability.Condition(a, platformv1.ConditionAccepted)
		a.Status.GatewayName = ""
	default:
		capability.SetCondition(a, platformv1.ConditionAccepted, metav1.ConditionTrue, platformv1.ReasonAccepted, "the hostname is this aggregator's")
		if err := r.ensureGateway(ctx, a, run); err != nil {
			run.Fail(fmt.Errorf("Gateway %s: %w", a.Name, err))
			v.NotReady = &metav1.Condition{Type: "Gateway", Reason: platformv1.ReasonApplyFailed, Message: err.Error()}
		}
	}
	if err := r.summarize(ctx, a, capability.Condition(a, platformv1.ConditionAccepted).Status == metav1.ConditionTrue); err != nil {
		run.Fail(err)
		if v.NotReady == nil {
			v.NotReady = &metav1.Condition{Type: "Targets", Reason: platformv1.ReasonApplyFailed, Message: err.Error()}
		}
	}
	result, err := r.kit.Finish(run, v)
	return result, errors.Join(err, r.kit.Patch(ctx, run))
}

// setCond is capability.SetCondition, named for the conditions copied from
// elsewhere.
func setCond(o capability.Owner, typ string, st metav1.ConditionStatus, reason, msg string) {
	capability.SetCondition(o, typ, st, reason, msg)
}

// accept: the aggregator is honoured only in the platform namespace, and
// owns its hostname unless an older one names it too.
func (r *AggregatorReconciler) accept(ctx context.Context, a *platformv1.ApiAggregator) (bool, string, string) {
	if a.Namespace != r.Config.PlatformNamespace {
		return false, platformv1.ReasonNotInPlatformNamespace, fmt.Sprintf(
			"ApiAggregators are honoured only in the platform namespace %s; ask the platform team to create it there", r.Config.PlatformNamespace)
	}
	list := &platformv1.ApiAggregatorList{}
	if err := r.List(ctx, list, client.InNamespace(a.Namespace)); err != nil {
		return false, platformv1.ReasonNotReady, err.Error()
	}
	if owner := hostnameOwner(list.Items, a); owner != nil && owner.Name != a.Name {
		return false, platformv1.ReasonHostnameConflict, fmt.Sprintf(
			"hostname %s belongs to ApiAggregator %s (older); attach targets to it or choose another hostname", a.Spec.Hostname, owner.Name)
	}
	return true, "", ""
}

func owner(o client.Object, kind string) route.Owner {
	return route.Owner{
		Ref: metav1.OwnerReference{APIVersion: platformv1.GroupVersion.String(), Kind: kind, Name: o.GetName(), UID: o.GetUID()},
	}
}

func (r *AggregatorReconciler) ensureGateway(ctx context.Context, a *platformv1.ApiAggregator, run *kit.Run[*platformv1.ApiAggregator]) error {
	o := owner(a, "ApiAggregator")
	o.Labels = map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue, platformv1.LabelApiAggregator: a.Name}
	g := a.Spec.Gateway
	desired := route.Gateway(a.Name, o, parentOf(a), route.GatewaySpec{Class: g.ClassName, Port: g.Port, Protocol: g.Protocol, TLSSecret: g.TLSSecretName})
	t := capability.Target{Owner: a, Namespace: a.Namespace, Controller: o.Ref, Labels: o.Labels, Settled: run.Settled}
	if err := capability.Apply(ctx, r.kube(), t, &gatewayv1.Gateway{}, desired, gwac.ExtractGateway); err != nil {
		return err
	}
	a.Status.GatewayName = a.Name
	// Programmed is the data plane's word, copied: Plattr never claims it.
	gw := &gatewayv1.Gateway{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: a.Name}, gw); err != nil {
		setCond(a, platformv1.ConditionProgrammed, metav1.ConditionUnknown, platformv1.ReasonPending, "the Gateway is not in the cache yet")
		return nil
	}
	for _, c := range gw.Status.Conditions {
		if c.Type == string(gatewayv1.GatewayConditionProgrammed) && c.ObservedGeneration == gw.Generation && c.Reason != string(gatewayv1.GatewayReasonPending) {
			setCond(a, platformv1.ConditionProgrammed, c.Status, c.Reason, "Gateway "+gw.Name+": "+c.Message)
			return nil
		}
	}
	setCond(a, platformv1.ConditionProgrammed, metav1.ConditionUnknown, platformv1.ReasonPending,
		fmt.Sprintf("waiting for the controller of GatewayClass %s to program Gateway %s", g.ClassName, gw.Name))
	return nil
}

// parentOf is the listener targets attach to.
func parentOf(a *platformv1.ApiAggregator) route.Parent {
	return route.Parent{Aggregator: a.Name, Namespace: a.Namespace, Gateway: a.Name, Hostname: a.Spec.Hostname}
}

// summarize counts the accepted targets, their Active paths and lost
// claims, and keeps the label LabelAggregator(a) on exactly the namespaces
// with an accepted target (none when a is not accepted): the Gateway
// admits routes from those only.
func (r *AggregatorReconciler) summarize(ctx context.Context, a *platformv1.ApiAggregator, accepted bool) error {
	targets := &platformv1.ApiAggregatorTargetList{}
	if err := r.List(ctx, targets, client.MatchingFields{AggregatorRefIndex: a.Name}); err != nil {
		return err
	}
	slices.SortFunc(targets.Items, func(x, y platformv1.ApiAggregatorTarget) int {
		return compareKeys(x.Namespace+"/"+x.Name, y.Namespace+"/"+y.Name)
	})
	want := map[string]bool{}
	a.Status.AttachedTargets, a.Status.ActiveRoutes, a.Status.ConflictCount, a.Status.Conflicts = 0, 0, 0, nil
	for i := range targets.Items {
		t := &targets.Items[i]
		c := capability.Condition(t, platformv1.ConditionAccepted)
		if !accepted || c == nil || c.Status != metav1.ConditionTrue || !t.DeletionTimestamp.IsZero() {
			continue
		}
		want[t.Namespace] = true
		a.Status.AttachedTargets++
		for _, rs := range t.Status.Routes {
			switch rs.State {
			case platformv1.ApiRouteActive:
				a.Status.ActiveRoutes++
			case platformv1.ApiRouteConflicted:
				a.Status.ConflictCount++
				if len(a.Status.Conflicts) < platformv1.MaxAggregatorConflicts {
					a.Status.Conflicts = append(a.Status.Conflicts, platformv1.ApiConflict{
						Path: rs.Path, PathType: rs.PathType, Claimant: t.Namespace + "/" + t.Name, Owner: rs.Owner})
				}
			}
		}
	}
	label := platformv1.LabelAggregator(a.Name)
	labelled := &corev1.NamespaceList{}
	if err := r.APIReader.List(ctx, labelled, client.HasLabels{label}); err != nil {
		return err
	}
	for i := range labelled.Items {
		ns := &labelled.Items[i]
		if !want[ns.Name] {
			if err := r.label(ctx, ns.Name, label, nil); err != nil {
				return err
			}
		}
		delete(want, ns.Name)
	}
	for ns := range want {
		v := "true"
		if err := r.label(ctx, ns, label, &v); err != nil {
			return err
		}
	}
	return nil
}

func compareKeys(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// label sets (value) or removes (nil) one label of a namespace with a merge
// patch of that key alone: the namespace's other labels are its owner's.
func (r *AggregatorReconciler) label(ctx context.Context, namespace, key string, value *string) error {
	raw := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, key)
	if value != nil {
		raw = fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, key, *value)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	return client.IgnoreNotFound(r.Patch(ctx, ns, client.RawPatch(types.MergePatchType, []byte(raw))))
}

func (r *AggregatorReconciler) kube() capability.Kube {
	return capability.Kube{Client: r.Client, APIReader: r.APIReader, Recorder: r.Recorder}
}

// settle is how soon an aggregator or target whose backend is missing is
// looked at again: a team's own Service is not in the operator's cache, so
// no watch reports it.
const settle = 10 * time.Second
