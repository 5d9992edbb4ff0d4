package application

import (
	"context"

	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/route"
	"github.com/plattr/plattr/internal/naming"
)

// reconcileAPI keeps the app's ApiAggregatorTarget (spec.api) and its
// ApiReady condition.
func (r *Reconciler) reconcileAPI(ctx context.Context, s *scope) {
	app := s.app
	kube := capability.Kube{Client: r.Client, APIReader: r.APIReader, Recorder: r.Recorder}
	err := route.EnsureApp(ctx, kube, target(s), route.AppSpec{
		API: app.Spec.API, Name: app.Name, Service: naming.ObjectsFor(app.Name).Workload,
		AppPort: app.Spec.EffectivePort(), PostgREST: app.Spec.DatabaseEnabled(),
	})
	r.kit.Record(s.Run, "api", nil, err)
}
