package mirror

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// Status colours.
const (
	Green  = "green"
	Yellow = "yellow"
	Red    = "red"
	Grey   = "grey"
)

// Kinds are the objects mirrored for each app, with how each is described.
var Kinds = []Kind{
	{Name: "Deployment", New: func() client.Object { return &appsv1.Deployment{} }, Describe: describeDeployment},
	{Name: "Pod", New: func() client.Object { return &corev1.Pod{} }, Describe: describePod},
	{Name: "Ingress", New: func() client.Object { return &networkingv1.Ingress{} }, Describe: describeIngress},
	{Name: "HorizontalPodAutoscaler", New: func() client.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }, Describe: describeHPA},
	{Name: "PreviewEnvironment", New: func() client.Object { return &platformv1.PreviewEnvironment{} }, Describe: describePreview},
}

// Kind is one mirrored kind.
type Kind struct {
	Name string
	New  func() client.Object
	// Describe returns the app the object belongs to, its colour and a
	// summary; ok is false for objects of no app.
	Describe func(client.Object) (app, status, summary string, ok bool)
}

// Resources mirrors each app's Kubernetes objects into the store.
type Resources struct {
	Cache cache.Cache
	Store *store.Store
	Log   logr.Logger
}

// Start registers a handler per kind; after the caches sync, objects
// deleted while no replica watched are forgotten.
func (m *Resources) Start(ctx context.Context) error {
	for _, k := range Kinds {
		inf, err := m.Cache.GetInformer(ctx, k.New())
		if err != nil {
			return fmt.Errorf("watching %s: %w", k.Name, err)
		}
		k := k
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { m.record(ctx, k, obj) },
			UpdateFunc: func(_, obj any) { m.record(ctx, k, obj) },
			DeleteFunc: func(obj any) {
				if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				if o, ok := obj.(client.Object); ok {
					m.forget(ctx, store.ResourceKey{Kind: k.Name, Namespace: o.GetNamespace(), Name: o.GetName()})
				}
			},
		}); err != nil {
			return err
		}
	}
	go func() {
		if !m.Cache.WaitForCacheSync(ctx) {
			return
		}
		for _, k := range Kinds {
			if err := m.prune(ctx, k); err != nil && ctx.Err() == nil {
				m.Log.Error(err, "forgetting objects deleted while the API was down", "kind", k.Name)
			}
		}
	}()
	return nil
}

func (m *Resources) record(ctx context.Context, k Kind, obj any) {
	o, ok := obj.(client.Object)
	if !ok {
		return
	}
	app, status, summary, ok := k.Describe(o)
	if !ok {
		return
	}
	r := store.Resource{Kind: k.Name, Name: o.GetName(), Namespace: o.GetNamespace(), App: app, Status: status, Summary: summary}
	if err := m.Store.SetResource(ctx, r); err != nil && ctx.Err() == nil {
		m.Log.Error(err, "recording a resource", "kind", k.Name, "name", o.GetNamespace()+"/"+o.GetName())
	}
}

func (m *Resources) forget(ctx context.Context, key store.ResourceKey) {
	if err := m.Store.DeleteResource(ctx, key); err != nil && ctx.Err() == nil {
		m.Log.Error(err, "forgetting a resource", "kind", key.Kind, "name", key.Namespace+"/"+key.Name)
	}
}

func (m *Resources) prune(ctx context.Context, k Kind) error {
	keys, err := m.Store.ResourceKeys(ctx, k.Name)
	if err != nil {
		return err
	}
	for _, key := range keys {
		err := m.Cache.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.Name}, k.New())
		if apierrors.IsNotFound(err) {
			m.forget(ctx, key)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func appOf(o client.Object) (string, bool) {
	app, ok := o.GetLabels()[platformv1.LabelApp]
	return app, ok && app != ""
}

func describeDeployment(o client.Object) (string, string, string, bool) {
	d := o.(*appsv1.Deployment)
	app, ok := appOf(d)
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	summary := fmt.Sprintf("%d/%d available, %d updated", d.Status.AvailableReplicas, want, d.Status.UpdatedReplicas)
	for _, c := range d.Status.Conditions {
		if (c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse) ||
			(c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue) {
			return app, Red, summary + ": " + c.Message, ok
		}
	}
	switch {
	case want == 0:
		return app, Grey, "scaled to zero", ok
	case d.Status.ObservedGeneration >= d.Generation && d.Status.AvailableReplicas >= want && d.Status.UpdatedReplicas >= want:
		return app, Green, summary, ok
	default:
		return app, Yellow, summary, ok
	}
}

func describePod(o client.Object) (string, string, string, bool) {
	p := o.(*corev1.Pod)
	app, ok := appOf(p)
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && (w.Reason == "CrashLoopBackOff" || w.Reason == "ImagePullBackOff" || w.Reason == "ErrImagePull" || w.Reason == "CreateContainerConfigError") {
			return app, Red, cs.Name + ": " + w.Reason, ok
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		return app, Red, "failed: " + p.Status.Reason, ok
	}
	if p.DeletionTimestamp != nil {
		return app, Grey, "terminating", ok
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return app, Green, "ready", ok
		}
	}
	return app, Yellow, string(p.Status.Phase) + ", not ready", ok
}

func describeIngress(o client.Object) (string, string, string, bool) {
	in := o.(*networkingv1.Ingress)
	app, ok := appOf(in)
	host := ""
	if len(in.Spec.Rules) > 0 {
		host = in.Spec.Rules[0].Host
	}
	if len(in.Status.LoadBalancer.Ingress) == 0 {
		return app, Yellow, host + ": waiting for the ingress controller to give it an address", ok
	}
	return app, Green, host, ok
}

func describeHPA(o client.Object) (string, string, string, bool) {
	h := o.(*autoscalingv2.HorizontalPodAutoscaler)
	app, ok := appOf(h)
	min := int32(1)
	if h.Spec.MinReplicas != nil {
		min = *h.Spec.MinReplicas
	}
	summary := fmt.Sprintf("%d replicas (min %d, max %d)", h.Status.CurrentReplicas, min, h.Spec.MaxReplicas)
	for _, c := range h.Status.Conditions {
		if c.Type == autoscalingv2.AbleToScale && c.Status == corev1.ConditionFalse {
			return app, Red, summary + ": " + c.Message, ok
		}
	}
	return app, Green, summary, ok
}

func describePreview(o client.Object) (string, string, string, bool) {
	pe := o.(*platformv1.PreviewEnvironment)
	summary := fmt.Sprintf("PR #%d, %s", pe.Spec.PullRequest, pe.Status.Phase)
	if pe.Status.URL != "" {
		summary += " at " + pe.Status.URL
	}
	if pe.Status.ExpiresAt != nil {
		summary += ", expires " + pe.Status.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	switch pe.Status.Phase {
	case platformv1.PhaseRunning:
		return pe.Spec.ApplicationRef, Green, summary, true
	case platformv1.PhaseFailed:
		return pe.Spec.ApplicationRef, Red, summary, true
	default:
		return pe.Spec.ApplicationRef, Yellow, summary, true
	}
}
