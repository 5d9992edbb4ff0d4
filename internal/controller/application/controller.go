// Package application reconciles Applications into a database schema, a
// workload and its routes. One reconcile runs a fixed list of phases over a
// scope; each phase sets its own condition, and the status is derived from
// the conditions and written once, at the end, only if it changed.
package application

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
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
	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/naming"
	"github.com/plattr/plattr/internal/objectstore"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

const (
	// maxAttempts failed reconciles of one generation turn the phase Failed.
	maxAttempts = 3
	// settleInterval re-checks an app that waits on something not watched.
	settleInterval = 15 * time.Second
)

// Reconciler reconciles Applications.
type Reconciler struct {
	client.Client
	// APIReader reads past the cache: Secrets the app references are not
	// cached, and a cache miss must be confirmed before credentials rotate.
	APIReader client.Reader
	Recorder  events.EventRecorder
	DB        *database.Provisioner
	// Store is the object store; nil when none is configured.
	Store *objectstore.Store
	// Identity is the identity provider; nil when none is configured.
	Identity identity.Provider
	Config   config.Operator
	// SecretMetadata is a cache of every Secret's metadata in the watched
	// namespaces (never their data), for retrying an app the moment a
	// Secret it waits for appears or goes; nil turns the watch off.
	SecretMetadata cache.Cache
	// Claims finds who else serves or asks for a host; nil skips that
	// check. Routes, the cache of every Ingress it reads, brings back an
	// app whose spec.domain a route starts or stops serving; nil turns
	// that watch off.
	Claims ingress.Claims
	Routes cache.Cache

	// Clock tells the time; nil is the real clock.
	Clock clock.PassiveClock

	backends *wake.Backends[*platformv1.Application]
}

func (r *Reconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// scope is everything one reconcile of one Application knows.
type scope struct {
	app    *platformv1.Application
	before *platformv1.Application // as read, for change detection
	// names are the app's generated names, scoped to its tenant.
	names naming.Names

	// settled means the app was Running for this generation: a child found
	// missing or changed was then touched by someone else and is restored.
	settled bool

	errs    []error // transient failures: retried with backoff
	waiting bool    // needs the user (e.g. no imageRef): phase Pending
	// terminal: a failure that retrying the same spec will not mend (a
	// rollout past its progress deadline): Failed at once.
	terminal bool
	// provided holds, per capability, the Secrets and ConfigMaps it wrote
	// this reconcile: the app container's environment.
	provided    map[string][]capability.Source
	workloadUp  bool // the Deployment and Service were applied
	unsupported []string
}

// SetupWithManager registers the controller and its watches.
// skipNameValidation allows registering it again in the same process.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
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
	wakeUp := make(chan event.TypedGenericEvent[*platformv1.Application], 1024)
	r.backends = wake.NewBackends(5*time.Second, pings, wakeUp, appKey)
	if err := mgr.Add(r.backends); err != nil {
		return err
	}
	if r.DB != nil {
		sweep := &driftSweep{r: r, interval: r.Config.DriftCheckInterval, wake: wakeUp, verified: map[types.NamespacedName]string{}}
		if err := mgr.Add(sweep); err != nil {
			return err
		}
	}
	// Owned children reach their Application through the controller owner
	// reference. The Deployment's status is read (availability), so all its
	// updates count; the other children matter only when what Plattr wrote
	// changed.
	owner := handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &platformv1.Application{}, handler.OnlyControllerOwner())
	b := ctrl.NewControllerManagedBy(mgr).
		Named("application").
		Watches(&platformv1.Application{}, r.fairQueue(), builder.WithPredicates(predicates.SpecChanged)).
		Watches(&appsv1.Deployment{}, owner).
		Watches(&corev1.Service{}, owner, builder.WithPredicates(predicates.ChildChanged)).
		Watches(&corev1.ServiceAccount{}, owner, builder.WithPredicates(predicates.ChildChanged)).
		Watches(&corev1.Secret{}, owner, builder.WithPredicates(predicates.ChildChanged)).
		Watches(&corev1.ConfigMap{}, owner, builder.WithPredicates(predicates.ChildChanged)).
		Watches(&networkingv1.Ingress{}, owner, builder.WithPredicates(predicates.ChildChanged)).
		Watches(&autoscalingv2.HorizontalPodAutoscaler{}, owner, builder.WithPredicates(predicates.ChildChanged)).
		Watches(&policyv1.PodDisruptionBudget{}, owner, builder.WithPredicates(predicates.ChildChanged)).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.Config.MaxConcurrentReconciles,
			SkipNameValidation:      &skipNameValidation,
			// A failing app is retried after 1 s, 2 s, 4 s … up to the cap;
			// success forgets its failures. Events (a spec change, a watched
			// Secret, a backing service returning) retry at once.
			RateLimiter: retryLimiter(r.Config.RetryMaxBackoff),
		}).
		// Apps a backend recovery or the drift sweep wakes.
		WatchesRawSource(source.Channel(wakeUp, &handler.TypedEnqueueRequestForObject[*platformv1.Application]{}))
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
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch

// tenantOf is the tenant owning namespace, "" for a shared namespace.
func (r *Reconciler) tenantOf(ctx context.Context, namespace string) (string, error) {
	return capnamespace.TenantOf(ctx, r.Client, namespace)
}

// Reconcile brings one Application's children in line with its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	app := &platformv1.Application{}
	if err := r.Get(ctx, req.NamespacedName, app); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.ForgetApplication(req.Namespace, req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	tenant, err := r.tenantOf(ctx, app.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	s := &scope{app: app, before: app.DeepCopy(), names: naming.For(app, tenant), provided: map[string][]capability.Source{}}
	s.settled = app.Status.Phase == platformv1.PhaseRunning && app.Status.ObservedGeneration == app.Generation

	if !app.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	if err := r.ensureFinalizers(ctx, app); err != nil {
		return ctrl.Result{}, err
	}
	s.before = app.DeepCopy()

	defer func() {
		result, err = r.finish(ctx, s)
		if perr := r.patchStatus(ctx, s); perr != nil {
			result, err = ctrl.Result{}, errors.Join(err, perr)
		}
	}()

	caps := r.capabilities()
	phases := []func(context.Context, *scope, capabilities){
		r.reconcileDatabase,
		r.reconcileStorage,
		r.reconcileAuth,
		r.reconcileAddons,
		r.reconcileWorkload,
		r.reconcileIngress,
	}
	for _, phase := range phases {
		phase(ctx, s, caps)
	}
	return ctrl.Result{}, nil
}

// patchStatus writes the status if, and only if, it changed.
func (r *Reconciler) patchStatus(ctx context.Context, s *scope) error {
	return status.Patch(ctx, r.Client, s.before, s.app)
}

// appKey is the Application of a key, for wake events.
func appKey(key types.NamespacedName) *platformv1.Application {
	return &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
}

// retryLimiter spaces the retries of one failing app: 1 s, 2 s, 4 s … up to
// maxBackoff, per app.
func retryLimiter(maxBackoff time.Duration) workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, maxBackoff)
}

// resyncAfter is when a settled app is looked at again, spread by ±10 % so
// apps created in one burst do not all come back in the same second.
func (r *Reconciler) resyncAfter() time.Duration {
	d := r.Config.ResyncInterval
	return d - d/10 + rand.N(d/5+1)
}
