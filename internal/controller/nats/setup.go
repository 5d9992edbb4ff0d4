package nats

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/plattr/plattr/internal/controller/kit"
)

// Setup registers both controllers with the operator's settings (one call
// in internal/operator).
func Setup(mgr ctrl.Manager, deps kit.Deps, skipNameValidation bool) error {
	n := deps.Config.NATS
	cfg := Config{URL: n.URL, PlatformNamespace: deps.Config.PlatformNamespace, OperatorSecret: n.OperatorSecret, SystemSecret: n.SystemSecret}
	if err := (&AccountReconciler{Deps: deps, NATS: cfg}).SetupWithManager(mgr, skipNameValidation); err != nil {
		return err
	}
	return (&UserReconciler{Deps: deps, NATS: cfg}).SetupWithManager(mgr, skipNameValidation)
}
