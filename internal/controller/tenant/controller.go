// Package tenant reconciles Tenants: a team's self-service space, one
// namespace per environment (<tenant>-<environment>), each guarded by a
// ResourceQuota sized by spec.quota, a LimitRange and a default
// NetworkPolicy, with RBAC for the team (Admins get the cluster's admin
// role, Users edit, in those namespaces only) and labels that let the
// platform's monitoring select them. Apps in these namespaces get
// tenant-scoped names (naming.For). Deleting the Tenant deletes its
// namespaces, and the Tenant goes once they are gone.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/namespace"
	"github.com/plattr/plattr/internal/controller/kit"
)

// Reconciler reconciles Tenants.
type Reconciler struct {
	kit.Deps
	IngressNamespace string
	// Network is the platform's side of the default NetworkPolicy.
	Network namespace.Network

	kit *kit.Kit[*platformv1.Tenant]
}

// newKit is the controller's share of the rules.
func (r *Reconciler) newKit() *kit.Kit[*platformv1.Tenant] {
	return kit.New("tenant", r.Deps, func() *platformv1.Tenant { return &platformv1.Tenant{} })
}

// quotas size a tenant's namespace.
var quotas = map[platformv1.TenantQuota]corev1.ResourceList{
	platformv1.TenantQuotaSmall:  quota("2", "4Gi", "20"),
	platformv1.TenantQuotaMedium: quota("8", "16Gi", "60"),
	platformv1.TenantQuotaLarge:  quota("32", "64Gi", "200"),
}

func quota(cpu, memory, pods string) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceRequestsCPU: resource.MustParse(cpu), corev1.ResourceRequestsMemory: resource.MustParse(memory),
		corev1.ResourcePods: resource.MustParse(pods),
	}
}

// The cluster roles a tenant's members are bound to in its namespaces.
var clusterRoles = map[platformv1.TenantRole]string{platformv1.TenantAdmin: "admin", platformv1.TenantUser: "edit"}

// +kubebuilder:rbac:groups=platform.internal,resources=tenants,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=tenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=tenants/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=admin;edit

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	r.kit = r.newKit()
	return ctrl.NewControllerManagedBy(mgr).
		For(&platformv1.Tenant{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// A namespace of a tenant changing or going (the last step of a
		// deletion) comes back to it.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []ctrl.Request {
			if t := o.GetLabels()[platformv1.LabelTenant]; t != "" {
				return []ctrl.Request{{NamespacedName: client.ObjectKey{Name: t}}}
			}
			return nil
		})).
		WithOptions(controller.Options{SkipNameValidation: &skipNameValidation}).
		Named("tenant").
		Complete(r)
}

// Reconcile brings one Tenant's namespaces in line with its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	t := &platformv1.Tenant{}
	if err := r.Get(ctx, req.NamespacedName, t); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	run := kit.Begin(t)
	if !t.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, run)
	}
	if err := r.kit.EnsureMetadata(ctx, run, kit.AddFinalizers[*platformv1.Tenant]([]string{platformv1.FinalizerTenant})); err != nil {
		return ctrl.Result{}, err
	}

	var waiting []string
	t.Status.Namespaces = nil
	for _, env := range t.Spec.Environments {
		name := t.NamespaceFor(env)
		t.Status.Namespaces = append(t.Status.Namespaces, platformv1.TenantNamespace{Environment: env, Name: name})
		stop := r.kit.Time("namespace")
		wait, err := r.ensureNamespace(ctx, t, env)
		stop()
		if err != nil {
			run.Fail(fmt.Errorf("namespace %s: %w", name, err))
		} else if wait != "" {
			waiting = append(waiting, wait)
		}
	}
	if err := r.removeDropped(ctx, t); err != nil {
		run.Fail(err)
	}

	// Ready names what failed or waits; a namespace still being deleted is
	// looked at again in 2 s.
	v := kit.Verdict{Settle: 2 * time.Second,
		Ready: fmt.Sprintf("%d namespaces with quota %s, limits, network policy and the team's roles", len(t.Spec.Environments), t.Spec.Quota)}
	switch {
	case len(run.Errs) > 0:
		v.NotReady = &metav1.Condition{Type: "Namespaces", Reason: platformv1.ReasonApplyFailed, Message: errors.Join(run.Errs...).Error()}
		if c := capability.Condition(t, platformv1.ConditionNamespaceReady); c != nil && c.Status != metav1.ConditionTrue {
			v.NotReady = c
		}
	case len(waiting) > 0:
		v.NotReady = &metav1.Condition{Type: "Namespaces", Reason: platformv1.ReasonNamespaceTerminating, Message: waiting[0]}
	}
	result, err := r.kit.Finish(run, v)
	return result, errors.Join(err, r.kit.Patch(ctx, run))
}

func labels(t *platformv1.Tenant, env platformv1.Environment) map[string]string {
	return map[string]string{
		platformv1.LabelManagedBy:   platformv1.ManagedByValue,
		platformv1.LabelTenant:      t.Name,
		platformv1.LabelEnvironment: string(env),
		platformv1.LabelMonitoring:  "true",
	}
}

// ensureNamespace applies one namespace and what guards it. It returns a
// message when the namespace cannot be used yet (an earlier one of the
// same name is still being deleted).
func (r *Reconciler) ensureNamespace(ctx context.Context, t *platformv1.Tenant, env platformv1.Environment) (string, error) {
	name := t.NamespaceFor(env)
	ns := &corev1.Namespace{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, ns)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return "", err
	case ns.Labels[platformv1.LabelTenant] != t.Name || ns.Labels[platformv1.LabelManagedBy] != platformv1.ManagedByValue:
		capability.SetCondition(t, platformv1.ConditionNamespaceReady, metav1.ConditionFalse, platformv1.ReasonNamespaceConflict,
			fmt.Sprintf("namespace %s exists and does not belong to tenant %s; delete it or choose another tenant name", name, t.Name))
		return "", capability.Terminal(fmt.Errorf("namespace %s belongs to someone else", name))
	case !ns.DeletionTimestamp.IsZero():
		return fmt.Sprintf("namespace %s is still being deleted; it is made again once it is gone", name), nil
	}
	// The namespace is cluster-scoped: compared and applied here, with
	// Plattr's fields only, as capability.Apply does for namespaced ones.
	owner := metav1ac.OwnerReference().WithAPIVersion(platformv1.GroupVersion.String()).WithKind("Tenant").
		WithName(t.Name).WithUID(t.UID).WithController(true).WithBlockOwnerDeletion(true)
	want := corev1ac.Namespace(name).WithLabels(labels(t, env)).WithOwnerReferences(owner)
	if owned, xerr := corev1ac.ExtractNamespace(ns, capability.FieldManager); err != nil || xerr != nil || !equality.Semantic.DeepEqual(owned, want) {
		if err := r.Client.Apply(ctx, want, client.FieldOwner(capability.FieldManager), client.ForceOwnership); err != nil {
			return "", err
		}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
			return "", err
		}
	}
	target := capability.Target{
		Namespace:  name,
		Controller: metav1.OwnerReference{APIVersion: "v1", Kind: "Namespace", Name: ns.Name, UID: ns.UID},
		Labels:     labels(t, env),
	}
	size := t.Spec.Quota
	if size == "" {
		size = platformv1.TenantQuotaSmall
	}
	if err := namespace.Ensure(ctx, r.kube(), target, namespace.Guards{
		Name:             "tenant",
		Quota:            quotas[size],
		DefaultRequest:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		DefaultLimit:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		IngressNamespace: r.IngressNamespace,
		Network:          r.Network,
	}); err != nil {
		return "", err
	}
	for role, clusterRole := range clusterRoles {
		binding := rbacv1ac.RoleBinding("plattr-tenant-"+clusterRole, name).WithLabels(labels(t, env)).
			WithOwnerReferences(metav1ac.OwnerReference().WithAPIVersion("v1").WithKind("Namespace").WithName(ns.Name).WithUID(ns.UID)).
			WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(clusterRole))
		for _, m := range t.Spec.Members {
			if m.Role == role {
				binding.WithSubjects(rbacv1ac.Subject().WithAPIGroup(rbacv1.GroupName).WithKind(rbacv1.UserKind).WithName(m.Email))
			}
		}
		if err := capability.Apply(ctx, r.kube(), capability.Target{}, &rbacv1.RoleBinding{}, binding, rbacv1ac.ExtractRoleBinding); err != nil {
			return "", err
		}
	}
	capability.SetCondition(t, platformv1.ConditionNamespaceReady, metav1.ConditionTrue, platformv1.ReasonProvisioned, "every namespace is ready")
	return "", nil
}

// removeDropped deletes the namespaces of environments no longer listed.
func (r *Reconciler) removeDropped(ctx context.Context, t *platformv1.Tenant) error {
	list := &corev1.NamespaceList{}
	if err := r.List(ctx, list, client.MatchingLabels{platformv1.LabelTenant: t.Name, platformv1.LabelManagedBy: platformv1.ManagedByValue}); err != nil {
		return err
	}
	for i := range list.Items {
		ns := &list.Items[i]
		if slices.Contains(t.Spec.Environments, platformv1.Environment(ns.Labels[platformv1.LabelEnvironment])) || !ns.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
			return err
		}
		r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, "NamespaceDeleted", "Delete",
			"namespace %s deleted: environment %s is no longer in spec.environments", ns.Name, ns.Labels[platformv1.LabelEnvironment])
	}
	return nil
}

// reconcileDelete deletes the tenant's namespaces and lets the Tenant go
// once they are gone (their apps' own finalizers clean up first).
func (r *Reconciler) reconcileDelete(ctx context.Context, run *kit.Run[*platformv1.Tenant]) (ctrl.Result, error) {
	t := run.Obj
	if !controllerutil.ContainsFinalizer(t, platformv1.FinalizerTenant) {
		return ctrl.Result{}, nil
	}
	list := &corev1.NamespaceList{}
	if err := r.APIReader.List(ctx, list, client.MatchingLabels{platformv1.LabelTenant: t.Name, platformv1.LabelManagedBy: platformv1.ManagedByValue}); err != nil {
		return ctrl.Result{}, err
	}
	for i := range list.Items {
		if ns := &list.Items[i]; ns.DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if len(list.Items) > 0 {
		kit.Terminating(run, fmt.Sprintf("waiting for %d namespace(s) to be deleted", len(list.Items)))
		if err := r.kit.Patch(ctx, run); err != nil {
			return ctrl.Result{}, err
		}
		// The namespace watch brings the tenant back as each one goes.
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}
	return ctrl.Result{}, r.kit.RemoveFinalizers(ctx, t, platformv1.FinalizerTenant)
}

func (r *Reconciler) kube() capability.Kube {
	return capability.Kube{Client: r.Client, APIReader: r.APIReader, Recorder: r.Recorder}
}
