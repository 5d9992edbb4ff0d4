package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

// appStatus is what `plattr status -o json|yaml` prints.
type appStatus struct {
	Name       string           `json:"name"`
	Namespace  string           `json:"namespace"`
	Phase      platformv1.Phase `json:"phase"`
	URL        string           `json:"url,omitempty"`
	Image      string           `json:"image,omitempty"`
	Replicas   replicas         `json:"replicas"`
	Conditions []conditionPrint `json:"conditions"`
	// Messaging is the app's NATS user, when it asks for one.
	Messaging *natsStatus `json:"messaging,omitempty"`
	// Routes are spec.api's paths on the aggregator's host, with their
	// state (and who holds a conflicted one).
	Routes []routePrint `json:"routes,omitempty"`
}

type routePrint struct {
	Host  string `json:"host"`
	Path  string `json:"path"`
	State string `json:"state"`
	Owner string `json:"owner,omitempty"`
}

type replicas struct {
	Desired   int32 `json:"desired"`
	Ready     int32 `json:"ready"`
	Available int32 `json:"available"`
}

type conditionPrint struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func newStatusCommand(g *globals) *cobra.Command {
	var tf targetFlags
	var output string
	cmd := &cobra.Command{
		Use:   "status [app]",
		Short: "Show an app's phase, URL, replicas and conditions (all apps with --all)",
		Example: `  plattr status                 # the app of plattr.yaml
  plattr status web -n default -o json
  plattr status --all -n staging`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.session()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			all, _ := cmd.Flags().GetBool("all")
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			defer w.Flush()
			if all {
				list := &platformv1.ApplicationList{}
				if err := s.c.List(ctx, list, client.InNamespace(s.ns)); err != nil {
					return err
				}
				fmt.Fprintln(w, "NAME\tENVIRONMENT\tPHASE\tURL")
				for _, a := range list.Items {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.Name, a.Spec.Environment, a.Status.Phase, a.Status.URL)
				}
				return nil
			}
			t, err := tf.resolve(s, args)
			if err != nil {
				return err
			}
			app := &platformv1.Application{}
			if err := s.c.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: t.app}, app); err != nil {
				return fmt.Errorf("app %s in namespace %s: %w", t.app, t.ns, err)
			}
			st := appStatus{Name: app.Name, Namespace: app.Namespace, Phase: app.Status.Phase, URL: app.Status.URL, Image: app.Spec.ImageRef}
			d := &appsv1.Deployment{}
			if err := s.c.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: naming.ObjectsFor(app.Name).Workload}, d); err == nil {
				if d.Spec.Replicas != nil {
					st.Replicas.Desired = *d.Spec.Replicas
				}
				st.Replicas.Ready, st.Replicas.Available = d.Status.ReadyReplicas, d.Status.AvailableReplicas
			}
			st.Messaging = appNatsUser(ctx, s.c, app)
			for _, c := range app.Status.Conditions {
				st.Conditions = append(st.Conditions, conditionPrint{c.Type, string(c.Status), c.Reason, c.Message})
			}
			if app.Spec.API != nil {
				tg := &platformv1.ApiAggregatorTarget{}
				if err := s.c.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: app.Name}, tg); err == nil {
					for _, r := range tg.Status.Routes {
						st.Routes = append(st.Routes, routePrint{Host: tg.Status.Hostname, Path: r.Path, State: string(r.State), Owner: r.Owner})
					}
				}
			}
			switch output {
			case "json":
				b, err := json.MarshalIndent(st, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
				return nil
			case "yaml":
				b, err := yaml.Marshal(st)
				if err != nil {
					return err
				}
				fmt.Fprint(cmd.OutOrStdout(), string(b))
				return nil
			case "":
			default:
				return fmt.Errorf("-o %s: want json or yaml (or nothing, for a table)", output)
			}
			fmt.Fprintf(w, "%s/%s\tphase %s\t%s\n", app.Namespace, app.Name, orUnknown(app.Status.Phase), app.Status.URL)
			fmt.Fprintf(w, "image %s\treplicas %d ready / %d desired\n\n", orDash(st.Image), st.Replicas.Ready, st.Replicas.Desired)
			printNats(w, st.Messaging)
			fmt.Fprintln(w, "CONDITION\tSTATUS\tREASON\tMESSAGE")
			for _, cond := range app.Status.Conditions {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
			}
			if len(st.Routes) > 0 {
				fmt.Fprintln(w, "\nAPI ROUTE\tSTATE\tHELD BY")
				for _, r := range st.Routes {
					fmt.Fprintf(w, "%s%s\t%s\t%s\n", r.Host, r.Path, r.State, orDash(r.Owner))
				}
			}
			return nil
		},
	}
	tf.add(cmd)
	cmd.Flags().Bool("all", false, "list every app of the namespace")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
