package application

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/auth"
	"github.com/plattr/plattr/internal/capability/ingress"
	"github.com/plattr/plattr/internal/naming"
)

// Watching what a failing app waits for, so it is retried the moment that
// changes instead of when its backoff — up to minutes — runs out. Backends
// returning are watched by wake.Backends.

// secretMetadata is the type of the Secret metadata watch: names and labels
// only, never data, of every Secret in the watched namespaces.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// appsUsingSecret maps a Secret that Plattr does not manage to the apps
// that read it (envVars secretKeyRef; in the platform namespace, the
// upstream providers' credentials plattr-auth.<namespace>.<app>) or wait
// for its name to be free (a foreign Secret in the way of <app>-db,
// -storage or -auth). Plattr's own Secrets reach their app through its
// owner reference already.
func (r *Reconciler) appsUsingSecret(ctx context.Context, secret *metav1.PartialObjectMetadata) []reconcile.Request {
	if secret.GetLabels()[platformv1.LabelManagedBy] == platformv1.ManagedByValue {
		return nil
	}
	var out []reconcile.Request
	if secret.Namespace == r.Config.PlatformNamespace {
		if ns, name, ok := auth.ParseCredentialsSecretName(secret.Name); ok {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
		}
	}
	apps := &platformv1.ApplicationList{}
	if err := r.List(ctx, apps, client.InNamespace(secret.Namespace)); err != nil {
		log.FromContext(ctx).Error(err, "listing Applications for a Secret change", "secret", secret.Name)
		return out
	}
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
	// The Secret the credentials were kept in before they moved to the
	// platform namespace: never read, but its coming or going changes what
	// AuthReady says.
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

// appsClaimingHosts maps an Ingress anywhere in the cluster to the apps
// whose spec.domain it routes: an app refused its domain (HostConflict) is
// retried the moment the route in its way goes, and the loser of a race
// sees the winner's route at once.
func (r *Reconciler) appsClaimingHosts(ctx context.Context, ing *networkingv1.Ingress) []reconcile.Request {
	var out []reconcile.Request
	for _, host := range ingress.IngressHosts(ing) {
		apps := &platformv1.ApplicationList{}
		if err := r.List(ctx, apps, client.MatchingFields{ingress.DomainIndex: host}); err != nil {
			log.FromContext(ctx).Error(err, "listing Applications for an Ingress change", "ingress", ing.Name)
			return nil
		}
		for i := range apps.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&apps.Items[i])})
		}
	}
	return out
}

// hostsChanged passes an Ingress created, deleted or given other hosts;
// status updates (the load balancer's address) are not news to anyone.
var hostsChanged = predicate.TypedFuncs[*networkingv1.Ingress]{
	UpdateFunc: func(e event.TypedUpdateEvent[*networkingv1.Ingress]) bool {
		return !slices.Equal(ingress.IngressHosts(e.ObjectOld), ingress.IngressHosts(e.ObjectNew)) ||
			!e.ObjectNew.DeletionTimestamp.Equal(e.ObjectOld.DeletionTimestamp)
	},
}
