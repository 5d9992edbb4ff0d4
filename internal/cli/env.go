package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

func newEnvCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Set, unset and list the app's environment variables (spec.envVars)",
		Example: `  plattr env set GREETING=hello LOG_LEVEL=debug
  plattr env set STRIPE_KEY --from-secret payments:stripe-key
  plattr env unset LOG_LEVEL
  plattr env list`,
	}
	cmd.AddCommand(newEnvSetCommand(g), newEnvUnsetCommand(g), newEnvListCommand(g))
	return cmd
}

// editEnvVars changes the app's spec.envVars, again on a conflict with
// another writer; the operator rolls the pods.
func editEnvVars(cmd *cobra.Command, g *globals, tf *targetFlags, edit func([]platformv1.EnvVar) ([]platformv1.EnvVar, error)) error {
	s, t, err := g.target(tf, nil)
	if err != nil {
		return err
	}
	key := client.ObjectKey{Namespace: t.ns, Name: t.app}
	app := &platformv1.Application{}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := s.c.Get(cmd.Context(), key, app); err != nil {
			return err
		}
		vars, err := edit(slices.Clone(app.Spec.EnvVars))
		if err != nil {
			return err
		}
		app.Spec.EnvVars = vars
		return s.c.Update(cmd.Context(), app, client.FieldOwner("plattr-env"))
	})
	if err != nil {
		return fmt.Errorf("app %s in namespace %s: %w", t.app, t.ns, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s/%s: envVars updated (generation %d); the operator rolls the pods\n", t.ns, t.app, app.Generation)
	return nil
}

func newEnvSetCommand(g *globals) *cobra.Command {
	var tf targetFlags
	var fromSecret string
	cmd := &cobra.Command{
		Use:   "set NAME=VALUE... | set NAME --from-secret SECRET:KEY",
		Short: "Set variables (a value, or a key of a Secret in the app's namespace)",
		Example: `  plattr env set GREETING=hello LOG_LEVEL=debug
  plattr env set STRIPE_KEY --from-secret payments:stripe-key --env production`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var set []platformv1.EnvVar
			for _, a := range args {
				name, value, ok := strings.Cut(a, "=")
				switch {
				case fromSecret != "" && !ok && len(args) == 1:
					secret, key, found := strings.Cut(fromSecret, ":")
					if !found || secret == "" || key == "" {
						return fmt.Errorf("--from-secret %q: want SECRET:KEY", fromSecret)
					}
					set = append(set, platformv1.EnvVar{Name: name, SecretKeyRef: &platformv1.SecretKeySelector{Name: secret, Key: key}})
				case ok && fromSecret == "":
					set = append(set, platformv1.EnvVar{Name: name, Value: value})
				default:
					return fmt.Errorf("%q: want NAME=VALUE, or one NAME with --from-secret SECRET:KEY", a)
				}
			}
			return editEnvVars(cmd, g, &tf, func(vars []platformv1.EnvVar) ([]platformv1.EnvVar, error) {
				for _, v := range set {
					if i := slices.IndexFunc(vars, func(e platformv1.EnvVar) bool { return e.Name == v.Name }); i >= 0 {
						vars[i] = v
					} else {
						vars = append(vars, v)
					}
				}
				return vars, nil
			})
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVar(&fromSecret, "from-secret", "", "SECRET:KEY to take the value from")
	return cmd
}

func newEnvUnsetCommand(g *globals) *cobra.Command {
	var tf targetFlags
	cmd := &cobra.Command{
		Use:     "unset NAME...",
		Short:   "Remove variables",
		Example: "  plattr env unset LOG_LEVEL GREETING",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editEnvVars(cmd, g, &tf, func(vars []platformv1.EnvVar) ([]platformv1.EnvVar, error) {
				var missing []string
				for _, name := range args {
					i := slices.IndexFunc(vars, func(e platformv1.EnvVar) bool { return e.Name == name })
					if i < 0 {
						missing = append(missing, name)
						continue
					}
					vars = slices.Delete(vars, i, i+1)
				}
				if len(missing) > 0 {
					return nil, fmt.Errorf("not set: %s (plattr env list)", strings.Join(missing, ", "))
				}
				return vars, nil
			})
		},
	}
	tf.add(cmd)
	return cmd
}

func newEnvListCommand(g *globals) *cobra.Command {
	var tf targetFlags
	cmd := &cobra.Command{
		Use:     "list [app]",
		Short:   "List the app's variables (values of Secrets are not shown)",
		Example: "  plattr env list\n  plattr env list web -n default",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, t, err := g.target(&tf, args)
			if err != nil {
				return err
			}
			app := &platformv1.Application{}
			if err := s.c.Get(cmd.Context(), client.ObjectKey{Namespace: t.ns, Name: t.app}, app); err != nil {
				return fmt.Errorf("app %s in namespace %s: %w", t.app, t.ns, err)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			defer w.Flush()
			fmt.Fprintln(w, "NAME\tVALUE")
			for _, v := range app.Spec.EnvVars {
				value := v.Value
				if v.SecretKeyRef != nil {
					value = fmt.Sprintf("(Secret %s, key %s)", v.SecretKeyRef.Name, v.SecretKeyRef.Key)
				}
				fmt.Fprintf(w, "%s\t%s\n", v.Name, value)
			}
			return nil
		},
	}
	tf.add(cmd)
	return cmd
}
