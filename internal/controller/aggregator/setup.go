package aggregator

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/plattr/plattr/internal/controller/kit"
)

// Setup registers both reconcilers and their index when the cluster serves
// the Gateway API (looked up once, at start); without it, ApiAggregators
// are left alone and Setup says so in its log line.
func Setup(ctx context.Context, mgr ctrl.Manager, deps kit.Deps, skipNameValidation bool) error {
	gk := schema.GroupKind{Group: gatewayv1.GroupVersion.Group, Kind: "HTTPRoute"}
	if _, err := mgr.GetRESTMapper().RESTMapping(gk, gatewayv1.GroupVersion.Version); meta.IsNoMatchError(err) {
		ctrl.Log.WithName("apiaggregator").Info("the Gateway API CRDs are not installed: ApiAggregators are not reconciled (install them, or the chart's crds.gatewayAPI)")
		return nil
	} else if err != nil {
		return fmt.Errorf("looking up the Gateway API: %w", err)
	}
	if err := SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	if err := (&AggregatorReconciler{Deps: deps}).SetupWithManager(mgr, skipNameValidation); err != nil {
		return fmt.Errorf("setting up the ApiAggregator controller: %w", err)
	}
	if err := (&TargetReconciler{Deps: deps}).SetupWithManager(mgr, skipNameValidation); err != nil {
		return fmt.Errorf("setting up the ApiAggregatorTarget controller: %w", err)
	}
	return nil
}
