// Command plattr-operator reconciles Plattr's resources. Its configuration
// comes from the environment; see internal/config and docs/OPERATOR.md.
package main

import (
	"fmt"
	"os"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/operator"
)

func main() {
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "plattr-operator: configuration error:\n%v\n", err)
		os.Exit(2)
	}
	level := zapcore.InfoLevel
	if cfg.LogLevel == "debug" {
		level = zapcore.DebugLevel
	}
	ctrl.SetLogger(zap.New(zap.Level(level)))
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "plattr-operator: no Kubernetes API server: %v (set KUBECONFIG or run in a cluster)\n", err)
		os.Exit(2)
	}
	// plattr_kube_requests_total: the writes (and reads) per resource.
	metrics.CountKubeRequests(restConfig)
	if err := operator.Run(ctrl.SetupSignalHandler(), cfg, restConfig, operator.Options{}); err != nil {
		fmt.Fprintf(os.Stderr, "plattr-operator: %v\n", err)
		os.Exit(1)
	}
}
