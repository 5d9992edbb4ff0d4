// Package mirror keeps the platform API's view of the cluster current by
// watching (informers), never polling: each app's status is recorded in
// the store, where a real change publishes an event to the live stream.
package mirror

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// AppState is what the stream tells clients about an app.
type AppState struct {
	Phase              string             `json:"phase"`
	URL                string             `json:"url,omitempty"`
	Image              string             `json:"image,omitempty"`
	Generation         int64              `json:"generation"`
	ObservedGeneration int64              `json:"observedGeneration"`
	Deleting           bool               `json:"deleting,omitempty"`
	Conditions         []metav1.Condition `json:"conditions"`
}

// Apps records every Application's status.
type Apps struct {
	Cache cache.Cache
	Store *store.Store
	// Catalog, if set, is kept with every app's summary.
	Catalog *Catalog
	Log     logr.Logger
}

// Start registers the handlers; once the cache has synced, apps deleted
// while no replica watched are forgotten too.
func (m *Apps) Start(ctx context.Context) error {
	inf, err := m.Cache.GetInformer(ctx, &platformv1.Application{})
	if err != nil {
		return err
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { m.record(ctx, obj) },
		UpdateFunc: func(_, obj any) { m.record(ctx, obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if a, ok := obj.(*platformv1.Application); ok {
				if m.Catalog != nil {
					m.Catalog.remove(a.Namespace, a.Name)
				}
				m.forget(ctx, store.AppKey{Namespace: a.Namespace, Name: a.Name})
			}
		},
	})
	if err != nil {
		return err
	}
	if m.Catalog != nil {
		if err := m.watchPreviews(ctx); err != nil {
			return err
		}
	}
	go func() {
		if !m.Cache.WaitForCacheSync(ctx) {
			return
		}
		if err := m.prune(ctx); err != nil && ctx.Err() == nil {
			m.Log.Error(err, "forgetting apps deleted while the API was down")
		}
	}()
	return nil
}

func (m *Apps) record(ctx context.Context, obj any) {
	a, ok := obj.(*platformv1.Application)
	if !ok {
		return
	}
	if m.Catalog != nil {
		m.Catalog.set(Summarize(a))
	}
	b, err := json.Marshal(State(a))
	if err == nil {
		err = m.Store.SetAppState(ctx, store.AppKey{Namespace: a.Namespace, Name: a.Name}, b)
	}
	if err != nil && ctx.Err() == nil {
		m.Log.Error(err, "recording an app's status", "app", a.Namespace+"/"+a.Name)
	}
}

func (m *Apps) forget(ctx context.Context, key store.AppKey) {
	if err := m.Store.DeleteAppState(ctx, key); err != nil && ctx.Err() == nil {
		m.Log.Error(err, "forgetting an app", "app", key.Namespace+"/"+key.Name)
	}
}

func (m *Apps) prune(ctx context.Context) error {
	keys, err := m.Store.AppStateKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		a := &platformv1.Application{}
		err := m.Cache.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, a)
		if err == nil {
			continue
		}
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("reading %s/%s: %w", k.Namespace, k.Name, err)
		}
		m.forget(ctx, k)
	}
	return nil
}

// State is an app's recorded status.
func State(a *platformv1.Application) AppState {
	conds := a.Status.Conditions
	if conds == nil {
		conds = []metav1.Condition{}
	}
	return AppState{
		Phase: string(a.Status.Phase), URL: a.Status.URL, Image: a.Spec.ImageRef,
		Generation: a.Generation, ObservedGeneration: a.Status.ObservedGeneration,
		Deleting: a.DeletionTimestamp != nil, Conditions: conds,
	}
}

// watchPreviews keeps each app's previews in the catalog.
func (m *Apps) watchPreviews(ctx context.Context) error {
	inf, err := m.Cache.GetInformer(ctx, &platformv1.PreviewEnvironment{})
	if err != nil {
		return err
	}
	set := func(obj any) {
		if pe, ok := obj.(*platformv1.PreviewEnvironment); ok {
			m.Catalog.setPreview(pe.Namespace, pe.Spec.ApplicationRef, SummarizePreview(pe))
		}
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pe, ok := obj.(*platformv1.PreviewEnvironment); ok {
				m.Catalog.removePreview(pe.Namespace, pe.Spec.ApplicationRef, pe.Name)
			}
		},
	})
	return err
}
