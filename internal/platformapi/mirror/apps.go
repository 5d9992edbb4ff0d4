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

	"github.com/plattr/plattr/api/events"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// AppState is what the stream tells clients about an app (the app
// event's payload).
type AppState = events.App

// Apps records every Application's status.
type Apps struct {
	Cache cache.Cache
	Store *store.Store
	// Catalog, if set, is kept with every app's summary.
	Catalog *Catalog
	// Live, if set, reads the API server itself: before the records of an
	// app missing from the cache are forgotten, it confirms the app is gone.
	Live client.Reader
	Log  logr.Logger
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
				m.forgetApp(ctx, store.AppKey{Namespace: a.Namespace, Name: a.Name}, string(a.UID))
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

// forgetApp forgets a deleted app: its roles and records, by its UID (a
// new app of the same name keeps its own), then its state, whose deletion
// is published.
func (m *Apps) forgetApp(ctx context.Context, key store.AppKey, uid string) {
	if err := m.Store.ForgetApp(ctx, key, uid); err != nil && ctx.Err() == nil {
		m.Log.Error(err, "forgetting a deleted app's roles and history", "app", key.Namespace+"/"+key.Name)
	}
	m.forget(ctx, key)
}

func (m *Apps) prune(ctx context.Context) error {
	recorded, err := m.Store.RecordedAppUIDs(ctx)
	if err != nil {
		return err
	}
	for _, r := range recorded {
		if alive, err := m.alive(ctx, r); err != nil {
			return err
		} else if !alive {
			if err := m.Store.ForgetApp(ctx, r.AppKey, r.UID); err != nil {
				return err
			}
		}
	}
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

// alive reports whether the app object r names still exists: in the
// cache, or (an app a task made a moment ago) at the API server.
func (m *Apps) alive(ctx context.Context, r store.AppUID) (bool, error) {
	for _, rd := range []client.Reader{m.Cache, m.Live} {
		if rd == nil {
			continue
		}
		a := &platformv1.Application{}
		err := rd.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, a)
		if err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("reading %s/%s: %w", r.Namespace, r.Name, err)
		}
		if err == nil && string(a.UID) == r.UID {
			return true, nil
		}
	}
	return false, nil
}

// State is an app's recorded status: its catalog row (so a page patches
// the row from the event) and its progress.
func State(a *platformv1.Application) AppState {
	conds := a.Status.Conditions
	if conds == nil {
		conds = []metav1.Condition{}
	}
	sum := Summarize(a)
	return AppState{
		Environment: sum.Environment, Framework: sum.Framework, Phase: sum.Phase, URL: sum.URL, Image: sum.Image,
		Ready: sum.Ready, CreatedAt: sum.CreatedAt, Deleting: sum.Deleting,
		Generation: a.Generation, ObservedGeneration: a.Status.ObservedGeneration, Conditions: conds,
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
