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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/ingress"
	capnamespace "github.com/plattr/plattr/internal/capability/namespace"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/predicates"
	"github.com/plattr/plattr/internal/controller/status"
	"github.com/plattr/plattr/internal/controller/wake"
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/naming"
	"github.com/plattr/plattr/internal/objectstore"
)

// Reconciler reconciles PreviewEnvironments.
type Reconciler struct {
	client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	DB        *database.Provisioner
	Store     *objectstore.Store // nil when none is configured
	Identity  identity.Provider  // nil when none is configured
	Config    config.Operator
	// Claims finds who else serves a host; nil skips that check.
	Claims ingress.Claims
	// Clock tells the time for expiry; nil is the real clock.
	Clock clock.PassiveClock

	backends *wake.Backends[*platformv1.PreviewEnvironment]
}

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// scope is what one reconcile of one preview knows.
type scope struct {
	pe     *platformv1.PreviewEnvironment
	names  naming.Preview
	before *platformv1.PreviewEnvironment
	parent *platformv1.Application
	ns     *corev1.Namespace // the preview's own, once ensured
	// settled: Running at this generation, so a child found changed was
	// changed by hand.
	settled    bool
	errs       []error
	terminal   bool
	waiting    bool
	workloadUp bool
	// orphaned: the parent is gone or going, and so is the preview.
	orphaned bool
	// dataPending: the parent's data is not copied yet; the workload waits.
	dataPending bool
	// provided holds, per capability, what it wrote this reconcile.
	provided map[string][]capability.Source
}

// SetupWithManager registers the controller, its watches and the TTL sweep.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	if err := mgr.Add(&sweep{r: r, interval: r.Config.PreviewSweepInterval}); err != nil {
		return err
	}
	// A preview that failed on a backend is retried the moment it answers.
	pings := map[string]func(context.Context) error{}
	if r.DB != nil {
		pings[capability.BackendDatabase] = r.DB.Ping
	}
	if r.Store != nil {
		pings[capability.BackendObjectStore] = r.Store.Ping
	}
	if r.Identity != nil {
		pings[capability.BackendIdentity] = r.Identity.Ping
	}
	wakeUp := make(chan event.TypedGenericEvent[*platformv1.PreviewEnvironment], 256)
	r.backends = wake.NewBackends(5*time.Second, pings, wakeUp, func(key types.NamespacedName) *platformv1.PreviewEnvironment {
		return &platformv1.PreviewEnvironment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	})
	if err := mgr.Add(r.backends); err != nil {
		return err
	}
	// The preview's children live in its own namespace and are controlled
	// by that Namespace (an owner reference cannot cross namespaces), so
	// they find their preview through its labels.
	children := handler.EnqueueRequestsFromMapFunc(previewOfChild)
	return ctrl.NewControllerManagedBy(mgr).
		Named("previewenvironment").
		For(&platformv1.PreviewEnvironment{}, builder.WithPredicates(predicates.SpecChanged)).
		// A parent's spec change (envVars, capabilities) reaches its previews.
		Watches(&platformv1.Application{}, handler.EnqueueRequestsFromMapFunc(r.previewsOfApp), builder.WithPredicates(predicates.SpecChanged)).
		Watches(&appsv1.Deployment{}, children).
		Watches(&corev1.Namespace{}, children, builder.WithPredicates(predicates.ChildChanged)).
		Watches(&corev1.Service{}, children, builder.WithPredicates(predicates.ChildChanged)).
		Watches(&corev1.Secret{}, children, builder.WithPredicates(predicates.ChildChanged)).
		Watches(&corev1.ConfigMap{}, children, builder.WithPredicates(predicates.ChildChanged)).
		Watches(&networkingv1.Ingress{}, children, builder.WithPredicates(predicates.ChildChanged)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: max(1, r.Config.MaxConcurrentReconciles/2),
			SkipNameValidation:      &skipNameValidation,
			RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, r.Config.RetryMaxBackoff),
		}).
		WatchesRawSource(source.Channel(wakeUp, &handler.TypedEnqueueRequestForObject[*platformv1.PreviewEnvironment]{})).
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
	s := &scope{pe: pe, before: pe.DeepCopy(), names: names(pe, tenant), provided: map[string][]capability.Source{}}
	s.settled = pe.Status.Phase == platformv1.PhaseRunning && pe.Status.ObservedGeneration == pe.Generation
	if !pe.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}

	defer func() {
		if s.orphaned {
			return // being deleted with its parent: no status to derive
		}
		result, err = r.finish(s)
		if perr := r.patchStatus(ctx, s); perr != nil {
			result, err = ctrl.Result{}, errors.Join(err, perr)
		}
	}()

	// expiresAt follows from creation and ttl alone, so neither a restart
	// nor another reconcile moves it; a change of spec.ttl does.
	expires, ttlErr := r.expiresAt(pe)
	if ttlErr != nil {
		setCondition(pe, platformv1.ConditionReady, metav1.ConditionFalse, "InvalidTTL", ttlErr.Error())
		s.errs = append(s.errs, ttlErr)
		s.terminal = true
		return ctrl.Result{}, nil
	}
	pe.Status.ExpiresAt = &metav1.Time{Time: expires}

	parent := &platformv1.Application{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: pe.Namespace, Name: pe.Spec.ApplicationRef}, parent); err != nil {
		if !apierrors.IsNotFound(err) {
			s.errs = append(s.errs, err)
			return ctrl.Result{}, nil
		}
		if hadParent(pe) {
			// The parent is gone: the preview goes with it now, not when the
			// garbage collector gets to it (up to a minute for custom
			// resources).
			return ctrl.Result{}, r.deleteOrphan(ctx, s)
		}
		setCondition(pe, platformv1.ConditionReady, metav1.ConditionFalse, platformv1.ReasonParentNotFound,
			fmt.Sprintf("spec.applicationRef: no Application %q in namespace %s; create it or fix the name (the preview starts once it exists)", pe.Spec.ApplicationRef, pe.Namespace))
		s.waiting = true
		return ctrl.Result{}, nil
	}
	if !parent.DeletionTimestamp.IsZero() {
		// Its previews go with it (their owner reference says so too).
		return ctrl.Result{}, r.deleteOrphan(ctx, s)
	}
	s.parent = parent
	if err := r.ensureMetadata(ctx, pe, parent); err != nil {
		s.errs = append(s.errs, err)
		return ctrl.Result{}, nil
	}
	s.before.ObjectMeta = *pe.ObjectMeta.DeepCopy()

	if !r.reconcileNamespace(ctx, s) {
		return ctrl.Result{}, nil
	}
	caps := r.capabilities()
	for _, phase := range []func(context.Context, *scope, capabilities){
		r.reconcileDatabase, r.reconcileStorage, r.reconcileAuth, r.reconcileWorkload, r.reconcileIngress,
	} {
		phase(ctx, s, caps)
	}
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

// ensureMetadata makes the parent the preview's owner — deleting the
// Application deletes its previews — and records, before any backend is
// called, what deletion must clean up: the namespace and each capability
// the parent asks for (the same finalizers as an Application's).
func (r *Reconciler) ensureMetadata(ctx context.Context, pe *platformv1.PreviewEnvironment, parent *platformv1.Application) error {
	want := pe.DeepCopy()
	ref := metav1.OwnerReference{APIVersion: platformv1.GroupVersion.String(), Kind: "Application", Name: parent.Name, UID: parent.UID}
	if !slices.ContainsFunc(want.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == parent.UID }) {
		want.OwnerReferences = append(want.OwnerReferences, ref)
	}
	add := func(f string, on bool) {
		if on && !slices.Contains(want.Finalizers, f) {
			want.Finalizers = append(want.Finalizers, f)
		}
	}
	add(platformv1.FinalizerNamespace, true)
	add(platformv1.FinalizerDatabase, parent.Spec.DatabaseEnabled() && r.DB != nil)
	add(platformv1.FinalizerStorage, parent.Spec.StorageEnabled() && r.Store != nil)
	add(platformv1.FinalizerAuth, parent.Spec.AuthEnabled() && r.Identity != nil)
	if equality.Semantic.DeepEqual(want.ObjectMeta, pe.ObjectMeta) {
		return nil
	}
	patch := client.MergeFromWithOptions(pe.DeepCopy(), client.MergeFromWithOptimisticLock{})
	pe.OwnerReferences, pe.Finalizers = want.OwnerReferences, want.Finalizers
	// The answer carries the stored status; the one being built (expiresAt
	// already set) is what this reconcile will write.
	building := pe.Status.DeepCopy()
	if err := r.Patch(ctx, pe, patch); err != nil {
		return fmt.Errorf("recording the parent and the cleanup (owner reference, finalizers): %w", err)
	}
	pe.Status = *building
	return nil
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

// patchStatus writes the status if, and only if, it changed.
func (r *Reconciler) patchStatus(ctx context.Context, s *scope) error {
	return status.Patch(ctx, r.Client, s.before, s.pe)
}

func setCondition(pe *platformv1.PreviewEnvironment, typ string, status metav1.ConditionStatus, reason, msg string) {
	capability.SetCondition(pe, typ, status, reason, msg)
}
