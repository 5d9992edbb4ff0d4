// Package environments keeps the platform's environment namespaces
// (staging, uat, production by default): each exists, is labelled with its
// environment — which the admission policy config/admission checks every
// Application against — and has a ResourceQuota, a LimitRange and a
// default NetworkPolicy. It never deletes a namespace and never takes over
// one it did not label: a namespace the platform team made keeps what it
// has, and gains Plattr's labels and guards.
package environments

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/namespace"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/wake"
)

// Quotas per environment: production has room for many apps at scale,
// the others for many apps at their minimum.
var quotas = map[platformv1.Environment]corev1.ResourceList{
	platformv1.EnvironmentProduction: quota("40", "80Gi", "400"),
	platformv1.EnvironmentStaging:    quota("16", "32Gi", "200"),
	platformv1.EnvironmentUAT:        quota("16", "32Gi", "200"),
	platformv1.EnvironmentPreview:    quota("8", "16Gi", "100"),
}

func quota(cpu, memory, pods string) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceRequestsCPU:    resource.MustParse(cpu),
		corev1.ResourceRequestsMemory: resource.MustParse(memory),
		corev1.ResourcePods:           resource.MustParse(pods),
	}
}

// Keeper ensures the environment namespaces at start and every interval.
type Keeper struct {
	Client    client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Namespaces maps each environment namespace to its environment.
	Namespaces []config.EnvironmentNamespace
	// IngressNamespace is let through the default NetworkPolicy.
	IngressNamespace string
	// Network is the platform's side of the default NetworkPolicy.
	Network  namespace.Network
	Interval time.Duration
	// Quotas replace the built-in quota of the environments they name
	// (ENVIRONMENT_QUOTAS).
	Quotas map[platformv1.Environment]corev1.ResourceList
}

// NeedLeaderElection: one replica writes.
func (k *Keeper) NeedLeaderElection() bool { return true }

// Start ensures the namespaces until ctx ends.
func (k *Keeper) Start(ctx context.Context) error {
	return wake.Periodically(ctx, k.Interval, func(ctx context.Context) {
		if err := k.Ensure(ctx); err != nil {
			log.FromContext(ctx).Error(err, "ensuring the environment namespaces; retrying at the next interval")
		}
	})
}

// Ensure makes every environment namespace exist with its labels and
// guards, writing only what differs.
func (k *Keeper) Ensure(ctx context.Context) error {
	var errs []error
	for _, en := range k.Namespaces {
		if err := k.ensure(ctx, en); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s (%s): %w", en.Namespace, en.Environment, err))
		}
	}
	return errors.Join(errs...)
}

func (k *Keeper) ensure(ctx context.Context, en config.EnvironmentNamespace) error {
	kube := capability.Kube{Client: k.Client, APIReader: k.APIReader, Recorder: k.Recorder}
	labels := map[string]string{
		platformv1.LabelEnvironment: string(en.Environment),
		platformv1.LabelManagedBy:   platformv1.ManagedByValue,
	}
	ns := &corev1.Namespace{}
	err := k.APIReader.Get(ctx, client.ObjectKey{Name: en.Namespace}, ns)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if apierrors.IsNotFound(err) || !hasLabels(ns, labels) {
		// Plattr's labels only: the namespace's other fields stay its owner's.
		if err := k.Client.Apply(ctx, corev1ac.Namespace(en.Namespace).WithLabels(labels),
			client.FieldOwner(capability.FieldManager), client.ForceOwnership); err != nil {
			return err
		}
		if err := k.APIReader.Get(ctx, client.ObjectKey{Name: en.Namespace}, ns); err != nil {
			return err
		}
	}
	if !ns.DeletionTimestamp.IsZero() {
		return errors.New("it is being deleted; it is made again once it is gone")
	}
	t := capability.Target{
		Namespace:  en.Namespace,
		Controller: metav1.OwnerReference{APIVersion: "v1", Kind: "Namespace", Name: ns.Name, UID: ns.UID},
		Labels:     labels,
	}
	return namespace.Ensure(ctx, kube, t, namespace.Guards{
		Name:             "plattr",
		Quota:            k.quota(en.Environment),
		DefaultRequest:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		DefaultLimit:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		IngressNamespace: k.IngressNamespace,
		Network:          k.Network,
	})
}

func (k *Keeper) quota(env platformv1.Environment) corev1.ResourceList {
	if q, ok := k.Quotas[env]; ok {
		return q
	}
	return quotas[env]
}

func hasLabels(obj metav1.Object, want map[string]string) bool {
	for k, v := range want {
		if obj.GetLabels()[k] != v {
			return false
		}
	}
	return true
}
