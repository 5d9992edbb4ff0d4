// Package platformapi runs the platform API server: it wires the store,
// authentication, the informer cache and mirror, the change-feed hub, the
// task runner and the HTTP server. It reaches the cluster only through the
// Kubernetes API and never imports the operator's code.
package platformapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/platformapi/costs"
	"github.com/plattr/plattr/internal/platformapi/mirror"
	"github.com/plattr/plattr/internal/platformapi/server"
	"github.com/plattr/plattr/internal/platformapi/statuspoll"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/platformapi/stream"
	"github.com/plattr/plattr/internal/platformapi/tasks"
)

// Options are for tests and embedders.
type Options struct {
	Version string
	Log     logr.Logger
	// Listener, if set, is served instead of cfg.ListenAddr.
	Listener net.Listener
	// MetricsListener, if set, serves /metrics instead of cfg.MetricsAddr.
	MetricsListener net.Listener
	// Started receives the address served, once ready.
	Started func(addr string)
	// HTTP is the client used to reach the identity provider.
	HTTP *http.Client
}

// Scheme holds the types the API reads and writes.
func Scheme() (*runtime.Scheme, error) {
	return scheme.New(), nil
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config, rc *rest.Config, opts Options) error {
	log := opts.Log
	st, err := store.Open(ctx, cfg.DatabaseURL, int32(cfg.DBMaxConns))
	if err != nil {
		return err
	}
	defer st.Close()

	auth := &authn.Authenticator{Store: st, SiteAdmins: cfg.SiteAdmins, SessionTTL: cfg.SessionTTL,
		SecureCookies: strings.HasPrefix(cfg.PublicURL, "https://"), Log: log.WithName("authn"),
		LoginLimit: &authn.Limiter{PerMinute: cfg.LoginRateLimit, Burst: cfg.LoginRateLimit, TrustedProxies: cfg.TrustedProxies}}
	if cfg.OIDCEnabled() {
		auth.OIDC = &authn.OIDC{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
			RedirectURL: authn.CallbackURL(cfg.PublicURL), HTTP: opts.HTTP}
	}
	if err := auth.Bootstrap(ctx); err != nil {
		return fmt.Errorf("creating the site admins: %w", err)
	}

	scheme, err := Scheme()
	if err != nil {
		return err
	}
	// Only Plattr's own objects are mirrored: a cluster's other pods and
	// Deployments never enter the cache.
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{platformv1.LabelManagedBy: platformv1.ManagedByValue})}
	copts := cache.Options{Scheme: scheme, ByObject: map[client.Object]cache.ByObject{}}
	for _, k := range mirror.Kinds {
		if k.Name != "PreviewEnvironment" {
			copts.ByObject[k.New()] = managed
		}
	}
	// The status poller reads the apps' own Services (statuspoll).
	copts.ByObject[&corev1.Service{}] = managed
	if len(cfg.WatchNamespaces) > 0 {
		copts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range cfg.WatchNamespaces {
			copts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	informers, err := cache.New(rc, copts)
	if err != nil {
		return err
	}
	kube, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if cfg.GitHubEnabled() {
		auth.GitHub = &authn.GitHub{Issuer: cfg.GitHubOIDCIssuer, Audience: cfg.GitHubOIDCAudience, AllowedOwners: cfg.GitHubAllowedOwners,
			ProductionEnvironment: cfg.GitHubProductionEnvironment, Apps: informers, HTTP: opts.HTTP}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	catalog := &mirror.Catalog{}
	if err := (&mirror.Apps{Cache: informers, Live: kube, Store: st, Catalog: catalog, Log: log.WithName("mirror")}).Start(ctx); err != nil {
		return err
	}
	if err := (&mirror.Tenants{Cache: informers, Namespaces: kube, Store: st, Log: log.WithName("mirror")}).Start(ctx); err != nil {
		return err
	}
	if err := (&mirror.Resources{Cache: informers, Store: st, Log: log.WithName("mirror")}).Start(ctx); err != nil {
		return err
	}
	cacheErr := make(chan error, 1)
	go func() { cacheErr <- informers.Start(ctx) }()

	runner := &tasks.Runner{Store: st, Client: kube, Replica: cfg.Replica, Lease: cfg.TaskLease, Log: log.WithName("tasks")}
	runner.Init()
	hub := &stream.Hub{Store: st, Log: log.WithName("stream"), OnTasks: runner.Wake,
		MaxPerUser: cfg.StreamMaxPerUser, Recheck: cfg.StreamRecheckInterval, WriteTimeout: cfg.StreamWriteTimeout,
		MaxReplay: cfg.StreamMaxReplay, Check: streamCheck(auth)}
	go func() {
		if err := hub.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error(err, "the change feed stopped")
			cancel()
		}
	}()
	go runner.Run(ctx)
	go prune(ctx, st, cfg.EventRetention, log)
	poller := &statuspoll.Poller{Apps: informers, Store: st, Interval: cfg.StatusPollInterval, Timeout: cfg.StatusPollTimeout,
		URLTemplate: cfg.StatusURLTemplate, Log: log.WithName("status"), Services: informers, Debounce: cfg.StatusDebounce}
	go st.Leading(ctx, store.LockStatusPoller, 10*time.Second, func(ctx context.Context) {
		if informers.WaitForCacheSync(ctx) {
			poller.Run(ctx)
		}
	})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "plattr_api_stream_clients", Help: "Clients connected to the event stream.",
	}, func() float64 { return float64(hub.Subscribers()) }))
	sampler := &costs.Sampler{Cache: informers, Store: st, Interval: cfg.CostSampleInterval, Log: log.WithName("costs")}
	go st.Leading(ctx, store.LockCostSampler, 10*time.Second, func(ctx context.Context) {
		if informers.WaitForCacheSync(ctx) {
			sampler.Run(ctx)
		}
	})

	disco, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return err
	}
	clientset, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	srv := &server.Server{
		Pods:      clientset,
		Discovery: disco, ClusterName: cfg.ClusterName, Prices: cfg.Prices,
		TokenMaxTTL: cfg.TokenMaxTTL, Log: log.WithName("server"),
		Store: st, Auth: auth, Cache: informers, Catalog: catalog, Kube: kube, Hub: hub, Registry: reg, Version: opts.Version,
		TenantsPerUser: cfg.TenantsPerUser, PublicURL: cfg.PublicURL,
		Ready: func(ctx context.Context) error {
			if err := st.Ping(ctx); err != nil {
				return &server.NotReady{Part: "the database does not answer", Err: err}
			}
			sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer scancel()
			if !informers.WaitForCacheSync(sctx) {
				return &server.NotReady{Part: "the cluster cache has not synced", Err: errors.New("not synced")}
			}
			select {
			case <-hub.Ready():
				return nil
			default:
				return &server.NotReady{Part: "the change feed is not listening yet", Err: errors.New("not listening")}
			}
		},
	}
	lis := opts.Listener
	if lis == nil {
		if lis, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
			return fmt.Errorf("LISTEN_ADDR=%s: %w", cfg.ListenAddr, err)
		}
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	serveErr := make(chan error, 2)
	go func() { serveErr <- httpSrv.Serve(lis) }()
	mlis := opts.MetricsListener
	if mlis == nil && cfg.MetricsAddr != "0" && cfg.MetricsAddr != "" {
		if mlis, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			_ = httpSrv.Close()
			return fmt.Errorf("METRICS_ADDR=%s: %w", cfg.MetricsAddr, err)
		}
	}
	metricsSrv := &http.Server{Handler: srv.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
	if mlis != nil {
		go func() { serveErr <- metricsSrv.Serve(mlis) }()
		defer metricsSrv.Close()
	}
	if opts.Started != nil {
		opts.Started(lis.Addr().String())
	}
	log.Info("platform API serving", "addr", lis.Addr().String(), "oidc", cfg.OIDCEnabled(), "metrics", cfg.MetricsAddr)
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	case err = <-cacheErr:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	hub.CloseAll()
	if httpSrv.Shutdown(sctx) != nil {
		_ = httpSrv.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// streamCheck re-authenticates an event stream's request.
func streamCheck(auth *authn.Authenticator) func(*http.Request) (stream.Caller, error) {
	return func(r *http.Request) (stream.Caller, error) {
		p, err := auth.Principal(r)
		if errors.Is(err, authn.ErrUnauthenticated) || (err == nil && p.CI != nil) {
			return stream.Caller{}, stream.ErrGone // CI jobs get no event stream
		}
		if err != nil {
			return stream.Caller{}, err
		}
		return stream.Caller{UserID: p.User.ID, Key: fmt.Sprintf("%s admin=%t", p.User.Email, p.User.SiteAdmin)}, nil
	}
}

// prune deletes old events hourly, and expired sessions and abandoned
// sign-ins every few minutes: on a timer, never on a request.
func prune(ctx context.Context, st *store.Store, keep time.Duration, log logr.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	var lastEvents time.Time
	for {
		if time.Since(lastEvents) >= time.Hour {
			if err := st.PruneEvents(ctx, keep); err != nil && ctx.Err() == nil {
				log.Error(err, "pruning old events")
			} else {
				lastEvents = time.Now()
			}
		}
		if err := st.PruneAuth(ctx, authn.LoginTimeout); err != nil && ctx.Err() == nil {
			log.Error(err, "pruning expired sessions")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
