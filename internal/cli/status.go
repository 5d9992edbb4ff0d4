package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

func newStatusCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status [app]",
		Short: "Show apps' phase and URL, or one app's conditions",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := g.client()
			if err != nil {
				return err
			}
			ctx := context.Background()
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			defer w.Flush()
			if len(args) == 0 {
				list := &platformv1.ApplicationList{}
				if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
					return err
				}
				fmt.Fprintln(w, "NAME\tENVIRONMENT\tPHASE\tURL")
				for _, a := range list.Items {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.Name, a.Spec.Environment, a.Status.Phase, a.Status.URL)
				}
				return nil
			}
			app := &platformv1.Application{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: args[0]}, app); err != nil {
				return err
			}
			fmt.Fprintf(w, "%s/%s\tphase %s\t%s\n\n", app.Namespace, app.Name, orUnknown(app.Status.Phase), app.Status.URL)
			fmt.Fprintln(w, "CONDITION\tSTATUS\tREASON\tMESSAGE")
			for _, cond := range app.Status.Conditions {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
			}
			return nil
		},
	}
}
