package application

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

// Watching what a failing app waits for, so it is retried the moment that
// changes instead of when its backoff — up to minutes — runs out.

// secretMetadata is the type of the Secret metadata watch: names and labels
// only, never data, of every Secret in the watched namespaces.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// appsUsingSecret maps a Secret that Plattr does not manage to the apps
// that read it (envVars secretKeyRef, the upstream providers' credentials)
// or wait for its name to be free (a foreign Secret in the way of <app>-db,
// -storage or -auth). Plattr's own Secrets reach their app through its
// owner reference already.
func (r *Reconciler) appsUsingSecret(ctx context.Context, secret *metav1.PartialObjectMetadata) []reconcile.Request {
	if secret.GetLabels()[platformv1.LabelManagedBy] == platformv1.ManagedByValue {
		return nil
	}
	apps := &platformv1.ApplicationList{}
	if err := r.List(ctx, apps, client.InNamespace(secret.Namespace)); err != nil {
		log.FromContext(ctx).Error(err, "listing Applications for a Secret change", "secret", secret.Name)
		return nil
	}
	var out []reconcile.Request
	for i := range apps.Items {
		if usesSecret(&apps.Items[i], secret.Name, r.Config.Auth.ProvidersSecret) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&apps.Items[i])})
		}
	}
	return out
}

func usesSecret(app *platformv1.Application, name, providersSecret string) bool {
	o := naming.ObjectsFor(app.Name)
	if name == o.DatabaseSecret || name == o.StorageSecret || name == o.AuthSecret {
		return true
	}
	if app.Spec.AuthEnabled() && len(app.Spec.Auth.Providers) > 0 && name == providersSecret {
		return true
	}
	for _, v := range app.Spec.EnvVars {
		if v.SecretKeyRef != nil && v.SecretKeyRef.Name == name {
			return true
		}
	}
	return false
}

// backendWatch remembers which apps failed because a backend was down and,
// while any did, pings that backend; when it answers again those apps are
// reconciled at once.
type backendWatch struct {
	interval time.Duration
	pings    map[string]func(context.Context) error
	events   chan<- event.TypedGenericEvent[*platformv1.Application]

	mu      sync.Mutex
	waiting map[string]map[types.NamespacedName]bool
}

func newBackendWatch(interval time.Duration, pings map[string]func(context.Context) error, events chan<- event.TypedGenericEvent[*platformv1.Application]) *backendWatch {
	return &backendWatch{
		interval: interval,
		pings:    pings,
		events:   events,
		waiting:  map[string]map[types.NamespacedName]bool{},
	}
}

// failed records that app could not reach backend.
func (w *backendWatch) failed(backend string, app *platformv1.Application) {
	if w == nil || w.pings[backend] == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting[backend] == nil {
		w.waiting[backend] = map[types.NamespacedName]bool{}
	}
	w.waiting[backend][client.ObjectKeyFromObject(app)] = true
}

// Start pings the backends apps wait for, every interval, until ctx ends.
func (w *backendWatch) Start(ctx context.Context) error {
	return wakeEvery(ctx, w.interval, w.events, w.recovered)
}

// recovered pings each backend apps wait for and returns the apps of those
// that answer.
func (w *backendWatch) recovered(ctx context.Context) []types.NamespacedName {
	var out []types.NamespacedName
	for backend, ping := range w.pings {
		if !w.hasWaiting(backend) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, w.interval)
		err := ping(pctx)
		cancel()
		if err == nil {
			out = append(out, w.take(backend)...)
		}
	}
	return out
}

// wakeEvery calls find every interval until ctx ends and reconciles the
// apps it returns.
func wakeEvery(ctx context.Context, interval time.Duration, wake chan<- event.TypedGenericEvent[*platformv1.Application],
	find func(context.Context) []types.NamespacedName) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, key := range find(ctx) {
			app := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
			select {
			case wake <- event.TypedGenericEvent[*platformv1.Application]{Object: app}:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// NeedLeaderElection: only the leader reconciles, so only it pings.
func (w *backendWatch) NeedLeaderElection() bool { return true }

func (w *backendWatch) hasWaiting(backend string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiting[backend]) > 0
}

func (w *backendWatch) take(backend string) []types.NamespacedName {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []types.NamespacedName
	for k := range w.waiting[backend] {
		out = append(out, k)
	}
	delete(w.waiting, backend)
	return out
}
