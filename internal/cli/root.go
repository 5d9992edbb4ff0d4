// Package cli is the `plattr` command for app developers.
package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/operator"
)

// Version is set at build time.
var Version = "dev"

type globals struct {
	kubeconfig string
	namespace  string
	devDir     string
}

// NewRoot builds the command tree.
func NewRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "plattr",
		Short:         "Plattr: run your app with its database, storage and auth, without touching Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then the local stack's, then ~/.kube/config)")
	root.PersistentFlags().StringVarP(&g.namespace, "namespace", "n", "", "namespace (default: the kubeconfig's, usually default)")
	root.PersistentFlags().StringVar(&g.devDir, "dev-dir", envOr("PLATTR_DEV_DIR", ".plattr/dev"), "state directory of the local stack")
	root.AddCommand(newDevCommand(g), newDeployCommand(g), newStatusCommand(g), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "plattr", Version) },
	})
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// clientConfig resolves the kubeconfig: the flag, $KUBECONFIG, the local
// stack's when it exists, then the usual default.
func (g *globals) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	switch {
	case g.kubeconfig != "":
		rules.ExplicitPath = g.kubeconfig
	case os.Getenv("KUBECONFIG") == "":
		if local := filepath.Join(g.devDir, "kube", "kubeconfig"); fileExists(local) {
			rules.ExplicitPath = local
		}
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
}

func (g *globals) client() (client.Client, string, error) {
	cc := g.clientConfig()
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("no cluster to talk to (%v): start the local stack with `plattr dev up` or set KUBECONFIG", err)
	}
	ns := g.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	c, err := newClient(cfg)
	return c, ns, err
}

func newClient(cfg *rest.Config) (client.Client, error) {
	return client.New(cfg, client.Options{Scheme: operator.Scheme()})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
