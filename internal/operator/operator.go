// Package operator assembles the controller manager: scheme, cache, leader
// election, metrics and health endpoints, and the controllers.
package operator

import (
	"cmp"
	"strings"

	"k8s.io/utils/clock"

	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/pprof"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/compose"
	"github.com/plattr/plattr/internal/capability/namespace"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/charts/helmrun"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/aggregator"
	"github.com/plattr/plattr/internal/controller/application"
	"github.com/plattr/plattr/internal/controller/chartrelease"
	"github.com/plattr/plattr/internal/controller/chartsource"
	"github.com/plattr/plattr/internal/controller/environments"
	"github.com/plattr/plattr/internal/controller/kit"
	natsctl "github.com/plattr/plattr/internal/controller/nats"
	"github.com/plattr/plattr/internal/controller/preview"
	"github.com/plattr/plattr/internal/controller/tenant"
	"github.com/plattr/plattr/internal/metrics"
)

// LeaderElectionID names the Lease replicas compete for.
const LeaderElectionID = platformv1.LeaderElectionID

// Scheme knows the built-in types and Plattr's.
func Scheme() *runtime.Scheme { return scheme.New() }

// Options are what a caller may change beyond the configuration; tests use them.
type Options struct {
	// NewClient, when set, builds the manager's client (tests count writes).
	NewClient client.NewClientFunc
	// Restartable lets one process run the operator more than once (tests
	// restart it); controller names must otherwise be unique per process.
	Restartable bool
	// Clock tells the controllers the time (tests move it forward to expire
	// previews); nil is the real clock.
	Clock clock.PassiveClock
}

// Run runs the operator until ctx ends.
func Run(ctx context.Context, cfg config.Operator, restConfig *rest.Config, opts Options) error {
	cfg = cfg.WithDefaults()
	restConfig = rest.CopyConfig(restConfig)
	// client-go's default of 5 QPS / 10 burst throttles a busy operator.
	restConfig.QPS, restConfig.Burst = cfg.KubeAPIQPS, cfg.KubeAPIBurst

	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	managed := labels.SelectorFromSet(labels.Set{platformv1.LabelManagedBy: platformv1.ManagedByValue})
	// Only Plattr's own objects of each child kind are cached: caching every
	// Secret, Deployment or ServiceAccount of the cluster would cost memory
	// (and read access, for Secrets) the operator does not need. A child
	// whose label was removed by hand looks missing and is applied again,
	// which puts the label back.
	cacheOpts := cache.Options{ByObject: map[client.Object]cache.ByObject{}, DefaultTransform: keepPlattrFields}
	for _, kind := range []client.Object{
		&corev1.Secret{}, &corev1.ConfigMap{}, &corev1.ServiceAccount{}, &corev1.Service{},
		&appsv1.Deployment{}, &networkingv1.Ingress{}, &autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{},
		// a preview's namespace and what guards it
		&corev1.Namespace{}, &corev1.ResourceQuota{}, &corev1.LimitRange{}, &networkingv1.NetworkPolicy{},
		// a tenant's team roles
		&rbacv1.RoleBinding{},
	} {
		cacheOpts.ByObject[kind] = cache.ByObject{Label: managed}
	}
	if len(cfg.WatchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range cfg.WatchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}

	var mgr ctrl.Manager
	ready := func(req *http.Request) error {
		if mgr == nil {
			return errors.New("starting")
		}
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("caches not synced yet")
		}
		return nil
	}
	leaseDuration, renewDeadline, retryPeriod := 15*time.Second, 10*time.Second, 5*time.Second
	mgr, err = ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: Scheme(),
		Cache:  cacheOpts,
		Metrics: metricsserver.Options{
			BindAddress:   cfg.MetricsAddr,
			ExtraHandlers: extraHandlers(cfg, ready),
		},
		HealthProbeBindAddress:        cmp.Or(cfg.HealthAddr, "0"),
		LeaderElection:                cfg.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       cfg.LeaseNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
		NewClient:                     opts.NewClient,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if cfg.HealthAddr != "" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("cache", ready); err != nil {
			return err
		}
	}
	store, err := objectStore(cfg.S3)
	if err != nil {
		return err
	}
	// Every Secret's metadata (never its data) in the watched namespaces
	// and the platform namespace (the upstream providers' credentials):
	// apps waiting for a Secret are retried the moment it changes.
	var secretNamespaces map[string]cache.Config
	if len(cacheOpts.DefaultNamespaces) > 0 {
		secretNamespaces = maps.Clone(cacheOpts.DefaultNamespaces)
		secretNamespaces[cfg.PlatformNamespace] = cache.Config{}
	}
	secretMetadata, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultNamespaces: secretNamespaces,
		DefaultTransform:  cache.TransformStripManagedFields(),
	})
	if err != nil {
		return fmt.Errorf("creating the Secret metadata cache: %w", err)
	}
	if err := mgr.Add(secretMetadata); err != nil {
		return err
	}
	routes, claims, err := hostClaims(ctx, mgr)
	if err != nil {
		return err
	}
	// One set of capabilities, over one connection to each backend, for
	// every controller. The manager's client reads unstructured objects
	// (Dex's custom resources) from the API server, not from a cache.
	backends := compose.Backends{DB: db, Store: store, Identity: identityProvider(cfg.Auth, mgr.GetClient()), Claims: claims}
	recorder := mgr.GetEventRecorder("plattr-operator")
	kube := capability.Kube{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder}
	deps := kit.Deps{Client: kube.Client, APIReader: kube.APIReader, Recorder: recorder,
		Caps: compose.New(kube, backends, cfg), Config: cfg, Clock: opts.Clock}
	if err := (&application.Reconciler{Deps: deps, SecretMetadata: secretMetadata, Routes: routes}).SetupWithManager(mgr, opts.Restartable); err != nil {
		return fmt.Errorf("setting up the Application controller: %w", err)
	}
	if err := (&preview.Reconciler{Deps: deps}).SetupWithManager(mgr, opts.Restartable); err != nil {
		return fmt.Errorf("setting up the PreviewEnvironment controller: %w", err)
	}
	if err := natsctl.Setup(mgr, deps, opts.Restartable); err != nil {
		return fmt.Errorf("setting up the NATS controllers: %w", err)
	}
	if err := aggregator.Setup(ctx, mgr, deps, opts.Restartable); err != nil {
		return err
	}
	network := namespace.Network{APINamespace: cfg.PlatformAPINamespace, APIPodLabels: cfg.PlatformAPIPodLabels, EgressDenyCIDRs: cfg.EgressDenyCIDRs}
	if err := (&tenant.Reconciler{
		Deps: deps, IngressNamespace: cfg.IngressNamespace, Network: network,
	}).SetupWithManager(mgr, opts.Restartable); err != nil {
		return fmt.Errorf("setting up the Tenant controller: %w", err)
	}
	if err := (&chartsource.Reconciler{Deps: deps, PlatformNamespace: cfg.PlatformNamespace}).SetupWithManager(mgr, opts.Restartable); err != nil {
		return fmt.Errorf("setting up the ChartSource controller: %w", err)
	}
	if err := (&chartrelease.Reconciler{Deps: deps, Helm: &helmrun.Runner{Base: mgr.GetConfig(), Mapper: mgr.GetRESTMapper()}}).SetupWithManager(mgr, opts.Restartable); err != nil {
		return fmt.Errorf("setting up the ChartRelease controller: %w", err)
	}
	if len(cfg.EnvironmentNamespaces) > 0 {
		if err := mgr.Add(&environments.Keeper{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder,
			Namespaces: cfg.EnvironmentNamespaces, IngressNamespace: cfg.IngressNamespace, Interval: 5 * time.Minute, Network: network,
			Quotas: cfg.EnvironmentQuotas,
		}); err != nil {
			return err
		}
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		return countPreviews(ctx, mgr.GetClient(), clk)
	})); err != nil {
		return err
	}
	if err := mgr.Add(&backendProbe{pings: backends.Pings(), interval: 30 * time.Second}); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// extraHandlers are served beside /metrics: health, readiness and, when
// PPROF is set, Go's profiles.
func extraHandlers(cfg config.Operator, ready healthz.Checker) map[string]http.Handler {
	h := map[string]http.Handler{
		// healthz.Handler serves checks at paths relative to its mount point.
		"/healthz": http.StripPrefix("/healthz", &healthz.Handler{Checks: map[string]healthz.Checker{"ping": healthz.Ping}}),
		"/readyz":  http.StripPrefix("/readyz", &healthz.Handler{Checks: map[string]healthz.Checker{"cache": ready}}),
	}
	if cfg.Pprof {
		h["/debug/pprof/"] = http.HandlerFunc(pprof.Index)
		h["/debug/pprof/profile"] = http.HandlerFunc(pprof.Profile)
	}
	return h
}

// +kubebuilder:rbac:groups=platform.internal,resources=previewenvironments,verbs=get;list;watch

// countPreviews keeps plattr_preview_environments_active equal to the
// number of PreviewEnvironments that exist, and ..._expired to those past
// their expiry, reading the informer cache.
func countPreviews(ctx context.Context, c client.Client, clk clock.PassiveClock) error {
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		list := &platformv1.PreviewEnvironmentList{}
		if err := c.List(ctx, list); err == nil {
			metrics.PreviewEnvironmentsActive.Set(float64(len(list.Items)))
			expired := 0
			for _, p := range list.Items {
				if p.Status.ExpiresAt != nil && !clk.Now().Before(p.Status.ExpiresAt.Time) {
					expired++
				}
			}
			metrics.PreviewEnvironmentsExpired.Set(float64(expired))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// keepPlattrFields drops from cached objects the managedFields entries of
// other field managers. Plattr compares only what it owns (its own entries,
// see capability.Apply); the others — the Deployment controller's status,
// the HPA's scale, hand edits — cost memory for each of the thousands of
// cached children and are never read.
func keepPlattrFields(obj any) (any, error) {
	o, err := meta.Accessor(obj)
	if err != nil {
		return obj, nil // a tombstone: nothing to trim
	}
	var kept []metav1.ManagedFieldsEntry
	for _, mf := range o.GetManagedFields() {
		if strings.HasPrefix(mf.Manager, capability.FieldManager) {
			kept = append(kept, mf)
		}
	}
	o.SetManagedFields(kept)
	return obj, nil
}
