package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/Masterminds/semver/v3"
	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/charts/ext"
)

// The chart commands talk to the Kubernetes API, as `plattr deploy` does
// without --api-url; the platform API's chart routes come with the next
// issue.

func newChartCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "chart", Short: "Charts discovered in the platform's chart sources",
		Example: "  plattr chart list\n  plattr chart show webapp"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List the charts (NAME, VERSION, SOURCE), newest version of each", Args: cobra.NoArgs,
		Example: "  plattr chart list",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.session()
			if err != nil {
				return err
			}
			newest, err := newestVersions(cmd.Context(), s.c)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tVERSION\tSOURCE\tREPOSITORY\tSTATUS")
			for _, cv := range newest {
				st := "ok"
				if cv.Status.Error != "" {
					st = "error: " + cv.Status.Error
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", cv.Spec.Chart, cv.Spec.Version, cv.Spec.Source, cv.Spec.Repository, st)
			}
			return w.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show CHART", Short: "Show a chart's versions, inputs, features and actions", Args: cobra.ExactArgs(1),
		Example: "  plattr chart show webapp\n  plattr chart show local/charts/webapp",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.session()
			if err != nil {
				return err
			}
			versions, err := chartVersions(cmd.Context(), s.c, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			cv := versions[0]
			fmt.Fprintf(out, "Chart:      %s (%s/%s)\nVersions:  ", cv.Spec.Chart, cv.Spec.Source, cv.Spec.Repository)
			for _, v := range versions {
				fmt.Fprintf(out, " %s", v.Spec.Version)
			}
			fmt.Fprintf(out, "\nApp:        %s\nDigest:     %s\n", cv.Spec.AppVersion, cv.Spec.Digest)
			if cv.Status.Error != "" {
				fmt.Fprintf(out, "Error:      %s (it cannot be installed)\n", cv.Status.Error)
				return nil
			}
			e, err := extensionsOf(&cv)
			if err != nil {
				return err
			}
			if e.UISchema != nil {
				fmt.Fprintln(out, "Inputs:")
				for _, in := range e.UISchema.Inputs {
					flags := []string{string(in.Type)}
					if in.Array {
						flags[0] = "list of " + flags[0]
					}
					if in.Required {
						flags = append(flags, "required")
					}
					if in.Sensitive {
						flags = append(flags, "sensitive: give it from a Secret")
					}
					fmt.Fprintf(out, "  %-20s %s (%s)\n", in.ID, in.Label, strings.Join(flags, ", "))
				}
			}
			if f := e.Features; f != nil {
				fmt.Fprintf(out, "Features:   ingress %v, cardinality %s\n", f.Ingress.Enabled, f.Cardinality)
			}
			for _, a := range e.Actions {
				fmt.Fprintf(out, "Action:     %s — %s (%s)\n", a.ID, a.Title, a.AllowedRole)
			}
			return nil
		},
	})
	return cmd
}

func extensionsOf(cv *platformv1.ChartVersion) (*ext.Extensions, error) {
	e := &ext.Extensions{}
	if cv.Status.Extensions != nil {
		if err := json.Unmarshal(cv.Status.Extensions.Raw, e); err != nil {
			return nil, fmt.Errorf("ChartVersion %s: %w", cv.Name, err)
		}
	}
	return e, nil
}

// newestVersions is the newest version of each (source, repository).
func newestVersions(ctx context.Context, c client.Reader) ([]platformv1.ChartVersion, error) {
	list := &platformv1.ChartVersionList{}
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	best := map[string]platformv1.ChartVersion{}
	for _, cv := range list.Items {
		k := cv.Spec.Source + "/" + cv.Spec.Repository
		if cur, ok := best[k]; !ok || newer(cv, cur) {
			best[k] = cv
		}
	}
	out := make([]platformv1.ChartVersion, 0, len(best))
	for _, cv := range best {
		out = append(out, cv)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Spec.Chart+out[i].Spec.Source < out[j].Spec.Chart+out[j].Spec.Source
	})
	return out, nil
}

func newer(a, b platformv1.ChartVersion) bool {
	va, ea := semver.NewVersion(a.Spec.Version)
	vb, eb := semver.NewVersion(b.Spec.Version)
	if ea != nil || eb != nil {
		return a.CreationTimestamp.After(b.CreationTimestamp.Time)
	}
	return va.GreaterThan(vb) || (va.Equal(vb) && a.CreationTimestamp.After(b.CreationTimestamp.Time))
}

// chartVersions resolves CHART — a chart's name, or SOURCE/REPOSITORY —
// to its versions, newest first. An ambiguous name is an error listing
// the candidates.
func chartVersions(ctx context.Context, c client.Reader, chart string) ([]platformv1.ChartVersion, error) {
	list := &platformv1.ChartVersionList{}
	if err := c.List(ctx, list); err != nil {
		return nil, err
	}
	groups := map[string][]platformv1.ChartVersion{}
	for _, cv := range list.Items {
		if cv.Spec.Chart == chart || cv.Spec.Source+"/"+cv.Spec.Repository == chart {
			k := cv.Spec.Source + "/" + cv.Spec.Repository
			groups[k] = append(groups[k], cv)
		}
	}
	switch len(groups) {
	case 0:
		return nil, fmt.Errorf("no chart %s: see `plattr chart list`", chart)
	case 1:
	default:
		var names []string
		for k := range groups {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("chart %s is ambiguous; name one of: %s", chart, strings.Join(names, ", "))
	}
	for _, vs := range groups {
		sort.Slice(vs, func(i, j int) bool { return newer(vs[i], vs[j]) })
		return vs, nil
	}
	return nil, errors.New("unreachable")
}

// parseSets reads --set input=value against the schema: a number input
// takes a number, a Checkbox true or false, a list or object JSON.
func parseSets(sets []string, schema *ext.UISchema) (map[string]any, error) {
	out := map[string]any{}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--set %q: write input=value", s)
		}
		var in *ext.Input
		if schema != nil {
			in = schema.Input(k)
		}
		switch {
		case in == nil:
			out[k] = v // Validate names it as unknown.
		case in.Array || strings.HasPrefix(v, "{") || in.Type == ext.DaysAndHour:
			var x any
			if err := json.Unmarshal([]byte(v), &x); err != nil {
				return nil, fmt.Errorf("--set %s: want JSON (a list or an object): %v", k, err)
			}
			out[k] = x
		case in.Type == ext.Number:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("--set %s: want a number, got %q", k, v)
			}
			out[k] = n
		case in.Type == ext.Checkbox:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("--set %s: want true or false, got %q", k, v)
			}
			out[k] = b
		default:
			out[k] = v
		}
	}
	return out, nil
}
