// Package preview reconciles PreviewEnvironments: one pull request's own
// copy of an Application, in its own namespace, with its own schema,
// buckets, OIDC client and workload running the PR's image (docs/OPERATOR.md#preview-environments). It
// composes the same capability packages as the Application controller,
// over a Target whose children live in the preview's namespace.
package preview

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	capnamespace "github.com/plattr/plattr/internal/capability/namespace"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/controller/predicates"
	"github.com/plattr/plattr/internal/controller/wake"
	"github.com/plattr/plattr/internal/naming"
)

// Reconciler reconciles PreviewEnvironments.
type Reconciler struct {
	kit.Deps

	kit *kit.Kit[*platformv1.PreviewEnvironment]
}

// scope is what one reconcile of one preview knows.
type scope struct {
	*kit.Run[*platformv1.PreviewEnvironment]
	pe     *platformv1.PreviewEnvironment
	names  naming.Preview
	parent *platformv1.Application
	ns     *corev1.Namespace // the preview's own, once ensured
	// orphaned: the parent is gone or going, and so is the preview.
	orphaned bool
	// dataPending: the parent's data is not copied yet; the workload waits.
	dataPending bool
}

// newKit is the controller's share of the rules.
func (r *Reconciler) newKit() *kit.Kit[*platformv1.PreviewEnvironment] {
	return kit.New("previewenvironment", r.Deps, func() *platformv1.PreviewEnvironment { return &platformv1.PreviewEnvironment{} })
}

// SetupWithManager registers the controller, its watches and the TTL sweep.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	r.kit = r.newKit()
	if err := mgr.Add(wake.OnLeader(r.sweepExpired)); err != nil {
		return err
	}
	// A preview that failed on a backend — provisioning or cleaning up — is
	// retried the moment it answers.
	woken, err := r.kit.Watch(mgr, r.Caps.Pings())
	if err != nil {
		return err
	}
	// The preview's children live in its own namespace and are controlled
	// by that Namespace (an owner reference cannot cross namespaces), so
	// they find their preview through its labels.
	children := handler.EnqueueRequestsFromMapFunc(previewOfChild)
	b := ctrl.NewControllerManagedBy(mgr).
		Named("previewenvironment").
		For(&platformv1.PreviewEnvironment{}, builder.WithPredicates(predicates.SpecChanged)).
		// A parent's spec change (envVars, capabilities) reaches its previews.
		Watches(&platformv1.Application{}, handler.EnqueueRequestsFromMapFunc(r.previewsOfApp), builder.WithPredicates(predicates.SpecChanged))
	return kit.WatchChildren(b, children, &corev1.Namespace{}, &corev1.Service{}, &corev1.Secret{}, &corev1.ConfigMap{}, &networkingv1.Ingress{}).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(1, r.Config.MaxConcurrentReconciles/2),
			SkipNameValidation:      &skipNameValidation,
			RateLimiter:             kit.RetryLimiter(r.Config.RetryMaxBackoff),
		}).
		WatchesRawSource(woken).
		// The preview's NatsUser: its status says when the creds are issued.
		Watches(&platformv1.NatsUser{}, children).
		Complete(r)
}

// previewOfChild maps an object of a preview's namespace (or the namespace
// itself) to its PreviewEnvironment.
func previewOfChild(_ context.Context, obj client.Object) []reconcile.Request {
	l := obj.GetLabels()
	if l[platformv1.LabelManagedBy] != platformv1.ManagedByValue || l[platformv1.LabelPreview] == "" || l[platformv1.LabelPreviewNamespace] == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: l[platformv1.LabelPreviewNamespace], Name: l[platformv1.LabelPreview]}}}
}

func (r *Reconciler) previewsOfApp(ctx context.Context, app client.Object) []reconcile.Request {
	list := &platformv1.PreviewEnvironmentList{}
	if err := r.List(ctx, list, client.InNamespace(app.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, pe := range list.Items {
		if pe.Spec.ApplicationRef == app.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pe)})
		}
	}
	return out
}

// +kubebuilder:rbac:groups=platform.internal,resources=previewenvironments,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=platform.internal,resources=previewenvironments/status;previewenvironments/finalizers,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=resourcequotas;limitranges,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings one preview in line with its spec and its parent.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	pe := &platformv1.PreviewEnvironment{}
	if err := r.Get(ctx, req.NamespacedName, pe); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// The preview lives beside its parent, in the parent's namespace: a
	// tenant's previews carry the tenant in their names, as its apps do.
	tenant, err := capnamespace.TenantOf(ctx, r.Client, pe.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	s := &scope{Run: kit.Begin(pe), pe: pe, names: names(pe, tenant)}
	if !pe.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}

	defer func() {
		if s.orphaned {
			return // being deleted with its parent: no status to derive
		}
		result, err = r.finish(s)
		if perr := r.kit.Patch(ctx, s.Run); perr != nil {
			result, err = ctrl.Result{}, errors.Join(err, perr)
		}
	}()

	// expiresAt follows from creation and ttl alone, so neither a restart
	// nor another reconcile moves it; a change of spec.ttl does.
	expires, ttlErr := r.expiresAt(pe)
	if ttlErr != nil {
		capability.SetCondition(pe, platformv1.ConditionReady, metav1.ConditionFalse, "InvalidTTL", ttlErr.Error())
		s.Fail(capability.Terminal(ttlErr))
		return ctrl.Result{}, nil
	}
	pe.Status.ExpiresAt = &metav1.Time{Time: expires}

	parent := &platformv1.Application{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: pe.Namespace, Name: pe.Spec.ApplicationRef}, parent); err != nil {
		if !apierrors.IsNotFound(err) {
			s.Fail(err)
			return ctrl.Result{}, nil
		}
		if hadParent(pe) {
			// The parent is gone: the preview goes with it now, not when the
			// garbage collector gets to it (up to a minute for custom
			// resources).
			return ctrl.Result{}, r.deleteOrphan(ctx, s)
		}
		capability.SetCondition(pe, platformv1.ConditionReady, metav1.ConditionFalse, platformv1.ReasonParentNotFound,
			fmt.Sprintf("spec.applicationRef: no Application %q in namespace %s; create it or fix the name (the preview starts once it exists)", pe.Spec.ApplicationRef, pe.Namespace))
		s.Waiting = true
		return ctrl.Result{}, nil
	}
	if !parent.DeletionTimestamp.IsZero() {
		// Its previews go with it (their owner reference says so too).
		return ctrl.Result{}, r.deleteOrphan(ctx, s)
	}
	s.parent = parent
	if err := r.kit.EnsureMetadata(ctx, s.Run, r.metadata(parent)); err != nil {
		s.Fail(fmt.Errorf("recording the parent and the cleanup (owner reference, finalizers): %w", err))
		return ctrl.Result{}, nil
	}

	stop := r.kit.Time("namespace")
	ok := r.reconcileNamespace(ctx, s)
	stop()
	if !ok {
		return ctrl.Result{}, nil
	}
	kit.RunPhases(ctx, r.kit, s, r.phases()...)
	return ctrl.Result{}, nil
}

// hadParent reports whether the preview was given its parent as owner: a
// parent missing now was deleted.
func hadParent(pe *platformv1.PreviewEnvironment) bool {
	return slices.ContainsFunc(pe.OwnerReferences, func(o metav1.OwnerReference) bool {
		return o.Kind == "Application" && o.Name == pe.Spec.ApplicationRef
	})
}

// deleteOrphan deletes a preview whose parent is gone or going; its
// finalizers then clean up everything it had.
func (r *Reconciler) deleteOrphan(ctx context.Context, s *scope) error {
	s.orphaned = true
	return client.IgnoreNotFound(r.Delete(ctx, s.pe, client.Preconditions{UID: &s.pe.UID}))
}

// metadata makes the parent the preview's owner — deleting the
// Application deletes its previews — and records, before any backend is
// called, what deletion must clean up: the namespace and each capability
// the parent asks for (the same finalizers as an Application's). The kit
// writes them in one patch.
func (r *Reconciler) metadata(parent *platformv1.Application) func(*platformv1.PreviewEnvironment) {
	return func(pe *platformv1.PreviewEnvironment) {
		if !slices.ContainsFunc(pe.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == parent.UID }) {
			pe.OwnerReferences = append(pe.OwnerReferences,
				metav1.OwnerReference{APIVersion: platformv1.GroupVersion.String(), Kind: "Application", Name: parent.Name, UID: parent.UID})
		}
		add := []string{platformv1.FinalizerNamespace}
		for _, step := range r.cleanups(pe, naming.Preview{}) {
			if step.Finalizer != platformv1.FinalizerNamespace && step.Configured && parentAsks(parent, step.Finalizer) {
				add = append(add, step.Finalizer)
			}
		}
		kit.AddFinalizers[*platformv1.PreviewEnvironment](add)(pe)
	}
}

// parentAsks: the parent asks for the capability a finalizer stands for.
func parentAsks(parent *platformv1.Application, finalizer string) bool {
	switch finalizer {
	case platformv1.FinalizerDatabase:
		return parent.Spec.DatabaseEnabled()
	case platformv1.FinalizerStorage:
		return parent.Spec.StorageEnabled()
	case platformv1.FinalizerAuth:
		return parent.Spec.AuthEnabled()
	}
	return false
}

// expiresAt is creation + spec.ttl, capped by PREVIEW_MAX_TTL.
func (r *Reconciler) expiresAt(pe *platformv1.PreviewEnvironment) (time.Time, error) {
	ttl := pe.Spec.TTL
	if ttl == "" {
		ttl = "72h"
	}
	d, err := config.ParseTTL(ttl)
	if err != nil {
		return time.Time{}, fmt.Errorf("spec.ttl %q: %v", ttl, err)
	}
	if max := r.Config.PreviewMaxTTL; max > 0 && d > max {
		d = max
	}
	return pe.CreationTimestamp.Add(d), nil
}
