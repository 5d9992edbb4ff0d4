// Package application reconciles Applications into a database schema, a
// workload and its routes. One reconcile runs a fixed list of phases over a
// scope; each phase sets its own condition, and the status is derived from
// the conditions and written once, at the end, only if it changed.
package application

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	capnamespace "github.com/plattr/plattr/internal/capability/namespace"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/controller/predicates"
	"github.com/plattr/plattr/internal/controller/wake"
	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/naming"
)

// settleInterval re-checks an app that waits on something not watched.
const settleInterval = 15 * time.Second

// Reconciler reconciles Applications.
type Reconciler struct {
	kit.Deps
	// SecretMetadata is a cache of every Secret's metadata in the watched
	// namespaces (never their data), for retrying an app the moment a
	// Secret it waits for appears or goes; nil turns the watch off.
	SecretMetadata cache.Cache
	// Routes, the cache of every Ingress, brings back an app whose
	// spec.domain a route starts or stops serving; nil turns that watch off.
	Routes cache.Cache

	kit *kit.Kit[*platformv1.Application]
}

// scope is everything one reconcile of one Application knows.
type scope struct {
	*kit.Run[*platformv1.Application]
	app *platformv1.Application
	// names are the app's generated names, scoped to its tenant.
	names       naming.Names
	unsupported []string
}

// SetupWithManager registers the controller and its watches.
// skipNameValidation allows registering it again in the same process.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	r.kit = r.newKit()
	woken, err := r.kit.Watch(mgr, r.Caps.Pings())
	if err != nil {
		return err
	}
	if r.Caps.Configured(capability.BackendDatabase) {
		if err := mgr.Add(wake.OnLeader(r.sweepDrift)); err != nil {
			return err
		}
	}
	// Owned children reach their Application through the controller owner
	// reference, at its namespace's priority (fairness.go). A child's
	// creation is the reconcile's own write: no news.
	b := ctrl.NewControllerManagedBy(mgr).
		Named("application").
		Watches(&platformv1.Application{}, r.fairQueue(), builder.WithPredicates(predicates.SpecChanged))
	b = kit.WatchChildrenWith(b, r.childQueue(), []predicate.Predicate{predicates.NotCreated},
		&corev1.Service{}, &corev1.ServiceAccount{}, &corev1.Secret{}, &corev1.ConfigMap{},
		&networkingv1.Ingress{}, &autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{}).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.Config.MaxConcurrentReconciles,
			SkipNameValidation:      &skipNameValidation,
			RateLimiter:             kit.RetryLimiter(r.Config.RetryMaxBackoff),
		}).
		// Apps a backend recovery or the drift sweep wakes.
		WatchesRawSource(woken).
		// The app's NatsUser and spec.api's target, at the app's priority:
		// their status (creds issued; paths, conflicts) is MessagingReady
		// and ApiReady, so status changes count here.
		Watches(&platformv1.NatsUser{}, r.childQueue(), builder.WithPredicates(predicates.NotCreated)).
		Watches(&platformv1.ApiAggregatorTarget{}, r.childQueue(), builder.WithPredicates(predicates.NotCreated))
	if r.SecretMetadata != nil {
		b = b.WatchesRawSource(source.Kind(r.SecretMetadata, secretMetadata(),
			handler.TypedEnqueueRequestsFromMapFunc(r.appsUsingSecret)))
	}
	if r.Routes != nil {
		b = b.WatchesRawSource(source.Kind(r.Routes, &networkingv1.Ingress{},
			handler.TypedEnqueueRequestsFromMapFunc(r.appsClaimingHosts), hostsChanged))
	}
	return b.Complete(r)
}

// +kubebuilder:rbac:groups=platform.internal,resources=applications,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=applications/status;applications/finalizers,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets;services;serviceaccounts;configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments/scale,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=dex.coreos.com,resources=oauth2clients;connectors,verbs=get;list;create;update;delete
// +kubebuilder:rbac:groups=platform.internal,resources=apiaggregatortargets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch

// tenantOf is the tenant owning namespace, "" for a shared namespace.
func (r *Reconciler) tenantOf(ctx context.Context, namespace string) (string, error) {
	return capnamespace.TenantOf(ctx, r.Client, namespace)
}

// newKit is the controller's share of the rules.
func (r *Reconciler) newKit() *kit.Kit[*platformv1.Application] {
	return kit.New("application", r.Deps, func() *platformv1.Application { return &platformv1.Application{} })
}

// Reconcile brings one Application's children in line with its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	app := &platformv1.Application{}
	if err := r.Get(ctx, req.NamespacedName, app); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.ForgetApplication(req.Namespace, req.Name)
			r.kit.Forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	// Not an older copy than the last reconcile's own writes.
	app = r.kit.Latest(app)
	tenant, err := r.tenantOf(ctx, app.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	s := &scope{Run: kit.Begin(app), app: app, names: naming.For(app, tenant)}

	if !app.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	if err := r.kit.EnsureMetadata(ctx, s.Run, r.finalizers); err != nil {
		return ctrl.Result{}, fmt.Errorf("recording the capabilities to clean up (finalizers): %w", err)
	}

	defer func() {
		result, err = r.finish(s)
		if perr := r.kit.Patch(ctx, s.Run); perr != nil {
			result, err = ctrl.Result{}, errors.Join(err, perr)
		}
	}()

	kit.RunPhases(ctx, r.kit, s, r.phases()...)
	return ctrl.Result{}, nil
}

// resyncAfter is when a settled app is looked at again, spread by ±10 % so
// apps created in one burst do not all come back in the same second.
func (r *Reconciler) resyncAfter() time.Duration {
	d := r.Config.ResyncInterval
	return d - d/10 + rand.N(d/5+1)
}
