// Package helmrun runs Helm operations in-process with the Helm SDK (v4),
// the way Flux's helm-controller does: one action.Configuration per
// operation, Helm's Secrets storage in the release's namespace, every call
// bounded by a timeout, a release left pending-* by a crashed operator
// unlocked (marked failed, as helm-controller does) before the next
// operation — and every call made as the ServiceAccount it is given
// (impersonated), never as the operator. A post-renderer refuses, before
// anything is applied, a rendered object that is cluster-scoped or in
// another namespace unless the release is trusted.
package helmrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Runner runs Helm operations against one cluster.
type Runner struct {
	// Base is the operator's REST config; each operation copies it and
	// impersonates the target's ServiceAccount.
	Base *rest.Config
	// Timeout bounds each operation, waits included; 0 is 5 minutes.
	Timeout time.Duration
	// Mapper tells cluster-scoped kinds from namespaced ones.
	Mapper meta.RESTMapper
}

// Target is one Helm release and who operates it.
type Target struct {
	Namespace, Name string
	// ServiceAccount ("namespace/name") the operations run as.
	ServiceAccount string
	// Trusted: cluster-scoped objects and other namespaces are allowed.
	Trusted bool
}

func (r *Runner) timeout() time.Duration {
	if r.Timeout == 0 {
		return 5 * time.Minute
	}
	return r.Timeout
}

// getter is a RESTClientGetter over one impersonated config.
type getter struct {
	cfg       *rest.Config
	namespace string
}

func (g *getter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }
func (g *getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.cfg))
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}
func (g *getter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewDeferredDiscoveryRESTMapper(dc), nil
}
func (g *getter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	c := clientcmdapi.NewConfig()
	c.Contexts["release"] = &clientcmdapi.Context{Namespace: g.namespace}
	c.CurrentContext = "release"
	return clientcmd.NewDefaultClientConfig(*c, &clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}

var _ genericclioptions.RESTClientGetter = &getter{}

// config is the action configuration of t: Secrets storage in t's
// namespace, every request impersonating t's ServiceAccount.
func (r *Runner) config(t Target) (*action.Configuration, error) {
	ns, name, ok := strings.Cut(t.ServiceAccount, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("no ServiceAccount to run as: refusing to run as the operator")
	}
	cfg := rest.CopyConfig(r.Base)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + name}
	ac := action.NewConfiguration(action.ConfigurationSetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)).Handler()))
	if err := ac.Init(&getter{cfg: cfg, namespace: t.Namespace}, t.Namespace, "secret"); err != nil {
		return nil, err
	}
	// Objects the chart renders without a namespace go into the release's
	// (Helm's client would otherwise fall back to "default").
	if kc, ok := ac.KubeClient.(*kube.Client); ok {
		kc.Namespace = t.Namespace
	}
	return ac, nil
}

// LoadChart reads a chart archive.
func LoadChart(tgz []byte) (*chart.Chart, error) { return loader.LoadArchive(bytes.NewReader(tgz)) }

// Last is the release's newest revision, nil when it has none.
func (r *Runner) Last(t Target) (*release.Release, error) {
	ac, err := r.config(t)
	if err != nil {
		return nil, err
	}
	rel, err := ac.Releases.Last(t.Name)
	if errors.Is(err, driver.ErrReleaseNotFound) || (err != nil && strings.Contains(err.Error(), "no revision for release")) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return toV1(rel)
}

func toV1(rel any) (*release.Release, error) {
	switch v := rel.(type) {
	case *release.Release:
		return v, nil
	case release.Release:
		return &v, nil
	}
	return nil, fmt.Errorf("unexpected release type %T", rel)
}

// Unlock marks a revision left pending-* by an interrupted operation as
// failed, so the next operation may run (what helm-controller does; Helm
// itself answers "another operation is in progress" until then).
func (r *Runner) Unlock(t Target, rel *release.Release) error {
	if rel == nil || !rel.Info.Status.IsPending() {
		return nil
	}
	ac, err := r.config(t)
	if err != nil {
		return err
	}
	rel.SetStatus(rcommon.StatusFailed, fmt.Sprintf("Release unlocked from stale '%s' state by Plattr", rel.Info.Status))
	return ac.Releases.Update(rel)
}

// Install installs ch with vals, labelled with labels (the digests).
func (r *Runner) Install(ctx context.Context, t Target, ch *chart.Chart, vals map[string]any, labels map[string]string) (*release.Release, error) {
	ac, err := r.config(t)
	if err != nil {
		return nil, err
	}
	in := action.NewInstall(ac)
	in.ReleaseName, in.Namespace, in.Timeout, in.Labels = t.Name, t.Namespace, r.timeout(), labels
	in.WaitStrategy = kube.StatusWatcherStrategy
	in.ServerSideApply = true
	in.PostRenderer = &guard{namespace: t.Namespace, trusted: t.Trusted, mapper: r.Mapper}
	ctx, cancel := context.WithTimeout(ctx, r.timeout()+30*time.Second)
	defer cancel()
	rel, err := in.RunWithContext(ctx, ch, vals)
	if err != nil {
		return nil, err
	}
	return toV1(rel)
}

// Upgrade upgrades the release to ch with vals (all values: nothing is
// reused from earlier revisions).
func (r *Runner) Upgrade(ctx context.Context, t Target, ch *chart.Chart, vals map[string]any, labels map[string]string) (*release.Release, error) {
	ac, err := r.config(t)
	if err != nil {
		return nil, err
	}
	up := action.NewUpgrade(ac)
	up.Namespace, up.Timeout, up.Labels, up.MaxHistory = t.Namespace, r.timeout(), labels, 10
	up.WaitStrategy = kube.StatusWatcherStrategy
	up.ResetValues = true
	up.ServerSideApply = "auto"
	up.PostRenderer = &guard{namespace: t.Namespace, trusted: t.Trusted, mapper: r.Mapper}
	ctx, cancel := context.WithTimeout(ctx, r.timeout()+30*time.Second)
	defer cancel()
	rel, err := up.RunWithContext(ctx, t.Name, ch, vals)
	if err != nil {
		return nil, err
	}
	return toV1(rel)
}

// Rollback rolls the release back to revision (a new revision with that
// one's chart and values).
func (r *Runner) Rollback(t Target, revision int) error {
	ac, err := r.config(t)
	if err != nil {
		return err
	}
	rb := action.NewRollback(ac)
	rb.Version, rb.Timeout, rb.MaxHistory = revision, r.timeout(), 10
	rb.WaitStrategy = kube.StatusWatcherStrategy
	return rb.Run(t.Name)
}

// Uninstall removes the release and its history; a release already gone
// is no error.
func (r *Runner) Uninstall(t Target) error {
	ac, err := r.config(t)
	if err != nil {
		return err
	}
	un := action.NewUninstall(ac)
	un.Timeout, un.IgnoreNotFound = r.timeout(), true
	un.WaitStrategy = kube.StatusWatcherStrategy
	_, err = un.Run(t.Name)
	return err
}

// History is the release's revisions, newest first, at most max.
func (r *Runner) History(t Target, max int) ([]*release.Release, error) {
	ac, err := r.config(t)
	if err != nil {
		return nil, err
	}
	h := action.NewHistory(ac)
	h.Max = max
	list, err := h.Run(t.Name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]*release.Release, 0, len(list))
	for _, l := range list {
		v, err := toV1(l)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	// Newest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if len(out) > max {
		out = out[:max]
	}
	return out, nil
}

// RefusedError: the chart renders an object the release may not create.
type RefusedError struct{ Object, Why string }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the chart renders %s, which %s: only a trusted ChartSource's charts may (spec.trusted)", e.Object, e.Why)
}

// guard is the post-renderer that refuses what the release may not create.
type guard struct {
	namespace string
	trusted   bool
	mapper    meta.RESTMapper
}

func (g *guard) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	if g.trusted {
		return rendered, nil
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rendered.Bytes()), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("reading the rendered manifests: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		gvk := u.GroupVersionKind()
		what := fmt.Sprintf("%s %s", gvk.Kind, u.GetName())
		if gvk.Group != "" {
			what = fmt.Sprintf("%s.%s %s", gvk.Kind, gvk.Group, u.GetName())
		}
		if g.mapper != nil {
			m, err := g.mapper.RESTMapping(schema.GroupKind{Group: gvk.Group, Kind: gvk.Kind}, gvk.Version)
			if err != nil {
				return nil, &RefusedError{Object: what, Why: "is of a kind this cluster does not serve (so its scope is unknown)"}
			}
			if m.Scope.Name() == meta.RESTScopeNameRoot {
				return nil, &RefusedError{Object: what, Why: "is cluster-scoped"}
			}
		}
		if ns := u.GetNamespace(); ns != "" && ns != g.namespace {
			return nil, &RefusedError{Object: what + " in namespace " + ns, Why: "is outside the release's namespace " + g.namespace}
		}
	}
	return rendered, nil
}

// Interrupt writes what an operation killed midway leaves behind: a new
// revision, a copy of rel, in status (pending-upgrade, pending-install,
// pending-rollback) — what Helm records first when an operation starts.
// For chaos tests and drills of the unlock.
func (r *Runner) Interrupt(t Target, rel *release.Release, status rcommon.Status) error {
	ac, err := r.config(t)
	if err != nil {
		return err
	}
	next := *rel
	info := *rel.Info
	next.Info = &info
	next.Version = rel.Version + 1
	next.SetStatus(status, "Preparing upgrade")
	return ac.Releases.Create(&next)
}
