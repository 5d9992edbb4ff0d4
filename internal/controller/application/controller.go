// Package application reconciles Applications into a database schema, a
// workload and its routes. One reconcile runs a fixed list of phases over a
// scope; each phase sets its own condition, and the status is derived from
// the conditions and written once, at the end, only if it changed.
package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/objectstore"
)

const (
	// FieldManager owns every field Plattr writes with server-side apply.
	FieldManager = "plattr"
	// Finalizer holds an Application until its database is cleaned up, so a
	// delete while the operator is down is still cleaned up when it returns.
	Finalizer = "platform.internal/cleanup"
	// maxAttempts failed reconciles of one generation turn the phase Failed.
	maxAttempts = 3
	// maxBackoff caps the retry interval; retries never stop, so an app
	// recovers by itself once a backing service returns.
	maxBackoff = 30 * time.Second
	// settleInterval re-checks an app that waits on something not watched.
	settleInterval = 15 * time.Second
	// resyncInterval re-checks a Running app for drift nothing watches: a
	// schema or role dropped by hand, a changed Secret named in envVars. A
	// resync that finds nothing changed writes nothing.
	resyncInterval = 5 * time.Minute
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
}

// scope is everything one reconcile of one Application knows.
type scope struct {
	app    *platformv1.Application
	before *platformv1.Application // as read, for change detection

	// settled means the app was Running for this generation: a child found
	// missing or changed was then touched by someone else and is restored.
	settled bool

	errs    []error // transient failures: retried with backoff
	waiting bool    // needs the user (e.g. no imageRef): phase Pending
	// envSources are the Secrets and ConfigMaps the capabilities wrote this
	// reconcile, in phase order: the app container's envFrom.
	envSources  []envSource
	workloadUp  bool // the Deployment and Service were applied
	deployment  *appsv1.Deployment
	unsupported []string
}

// capability names what an envSource came from.
type capability string

const (
	capabilityDatabase capability = "database"
	capabilityStorage  capability = "storage"
	capabilityAuth     capability = "auth"
)

const (
	kindSecret    = "Secret"
	kindConfigMap = "ConfigMap"
)

// envSource is one object the app container takes its environment from.
type envSource struct {
	From capability
	Kind string // kindSecret or kindConfigMap
	Name string
	Data map[string][]byte // for the config hash that rolls pods on change
}

// provided reports whether the capability wrote its objects this reconcile.
func (s *scope) provided(c capability) bool {
	for _, src := range s.envSources {
		if src.From == c {
			return true
		}
	}
	return false
}

func (s *scope) fail(err error) error {
	s.errs = append(s.errs, err)
	return err
}

// SetupWithManager registers the controller and its watches.
// skipNameValidation allows registering it again in the same process.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&platformv1.Application{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&corev1.Secret{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&networkingv1.Ingress{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.Config.MaxConcurrentReconciles,
			SkipNameValidation:      &skipNameValidation,
		}).
		Complete(r)
}

// +kubebuilder:rbac:groups=platform.internal,resources=applications,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=applications/status;applications/finalizers,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets;services;serviceaccounts;configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=dex.coreos.com,resources=oauth2clients;connectors,verbs=get;list;create;update;delete
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch

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
	s := &scope{app: app, before: app.DeepCopy()}
	s.settled = app.Status.Phase == platformv1.PhaseRunning && app.Status.ObservedGeneration == app.Generation

	if !app.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	if !controllerutil.ContainsFinalizer(app, Finalizer) {
		patch := client.MergeFrom(app.DeepCopy())
		controllerutil.AddFinalizer(app, Finalizer)
		if err := r.Patch(ctx, app, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
		s.before.Finalizers = app.Finalizers
	}

	defer func() {
		result = r.finish(ctx, s)
		if perr := r.patchStatus(ctx, s); perr != nil {
			result, err = ctrl.Result{}, perr
		}
	}()

	phases := []func(context.Context, *scope) error{
		r.reconcileDatabase,
		r.reconcileStorage,
		r.reconcileAuth,
		r.reconcileAddons,
		r.reconcileWorkload,
		r.reconcileIngress,
	}
	for _, phase := range phases {
		// A failing phase records its condition and error in the scope; the
		// others still run, so independent capabilities make progress.
		_ = phase(ctx, s)
	}
	return ctrl.Result{}, nil
}

// patchStatus writes the status if, and only if, it changed.
func (r *Reconciler) patchStatus(ctx context.Context, s *scope) error {
	if equality.Semantic.DeepEqual(s.before.Status, s.app.Status) {
		return nil
	}
	err := r.Status().Patch(ctx, s.app, client.MergeFrom(s.before))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// backoff is the retry interval after the n-th consecutive failure:
// 1 s, 2 s, 4 s, … capped at maxBackoff.
func backoff(n int32) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 16 {
		return maxBackoff
	}
	return min(time.Second<<(n-1), maxBackoff)
}

func logErrors(ctx context.Context, s *scope) {
	if len(s.errs) > 0 {
		log.FromContext(ctx).Info("reconcile failed; will retry", "error", errors.Join(s.errs...).Error(),
			"attempt", s.app.Status.FailedAttempts)
	}
}
