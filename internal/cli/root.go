// Package cli is the `plattr` command for app developers.
package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/api/scheme"
	"github.com/plattr/plattr/internal/apiclient"
)

// Version is set at build time.
var Version = "dev"

type globals struct {
	// kube holds --kubeconfig, --context and -n, kubectl's own flags.
	kube   *genericclioptions.ConfigFlags
	devDir string
	// api is --api-url, --token and --audience; empty fields fall back to
	// PLATTR_API_URL, PLATTR_TOKEN and PLATTR_OIDC_AUDIENCE.
	api apiclient.Options
}

// NewRoot builds the command tree.
func NewRoot() *cobra.Command {
	str := func() *string { s := ""; return &s }
	g := &globals{kube: &genericclioptions.ConfigFlags{KubeConfig: str(), Context: str(), Namespace: str()}}
	root := &cobra.Command{
		Use:           "plattr",
		Short:         "Plattr: run your app with its database, storage and auth, without touching Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.kube.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVar(&g.api.URL, "api-url", "", "the platform API's URL (default $"+apiclient.EnvURL+"); with it, `plattr deploy` goes through the API")
	root.PersistentFlags().StringVar(&g.api.Token, "token", "", "an API token for the platform API (default $"+apiclient.EnvToken+"; in GitHub Actions, none: the job's OIDC ID token is used)")
	root.PersistentFlags().StringVar(&g.api.Audience, "audience", "", "the audience to ask GitHub Actions' ID token for (default $"+apiclient.EnvAudience+", else "+apiclient.DefaultAudience+")")
	root.PersistentFlags().StringVar(&g.devDir, "dev-dir", envOr("PLATTR_DEV_DIR", ".plattr/dev"), "state directory of the local stack")
	root.AddCommand(
		newInitCommand(g),
		newDevCommand(g),
		newDeployCommand(g),
		newStatusCommand(g),
		newLogsCommand(g),
		newPreviewCommand(g),
		newEnvCommand(g),
		newDBCommand(g),
		newRunCommand(g),
		newDoctorCommand(g),
		newChartCommand(g),
		newReleaseCommand(g),
		&cobra.Command{
			Use:     "version",
			Short:   "Print the version",
			Example: "  plattr version",
			Run:     func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "plattr", Version) },
		},
	)
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newCompletionCommand(root))
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// kubeconfig applies the local stack's kubeconfig when neither
// --kubeconfig nor $KUBECONFIG names one and the stack runs here.
func (g *globals) kubeconfig() {
	if *g.kube.KubeConfig != "" || os.Getenv("KUBECONFIG") != "" {
		return
	}
	if local := filepath.Join(g.devDir, "kube", "kubeconfig"); fileExists(local) {
		*g.kube.KubeConfig = local
	}
}

// session is what a command needs to talk to the cluster.
type session struct {
	c    client.WithWatch
	kube kubernetes.Interface
	cfg  *rest.Config
	// ns is -n, else the kubeconfig's namespace, else default;
	// explicit says -n was given.
	ns       string
	explicit bool
}

func (g *globals) session() (*session, error) {
	g.kubeconfig()
	cfg, err := g.kube.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster to talk to (%v): start the local stack with `plattr dev up`, or set --kubeconfig or KUBECONFIG", err)
	}
	ns, explicit, err := g.kube.ToRawKubeConfigLoader().Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	explicit = explicit || *g.kube.Namespace != ""
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, err
	}
	k, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &session{c: c, kube: k, cfg: cfg, ns: ns, explicit: explicit}, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func newCompletionCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish|powershell",
		Short:     "Print the shell completion script",
		Example:   "  source <(plattr completion bash)\n  plattr completion zsh > \"${fpath[1]}/_plattr\"",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return fmt.Errorf("%q: want bash, zsh, fish or powershell", args[0])
		},
	}
}
