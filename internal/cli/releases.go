package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/charts/ext"
)

type releaseFlags struct {
	chart, version string
	sets           []string
	wait           bool
	timeout        time.Duration
}

func newReleaseCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "release", Short: "Install and operate charts as Helm releases (ChartReleases)",
		Example: "  plattr release install cache --chart redis --set size=2 --wait\n  plattr release history cache"}
	var f releaseFlags
	install := &cobra.Command{
		Use: "install NAME --chart CHART [--version V] [--set input=value …] [--wait]", Short: "Install a chart in the current namespace",
		Example: "  plattr release install cache --chart redis --set size=2 --wait\n  plattr release install wiki --chart local/charts/wiki --version 1.2.0",
		Args:    cobra.ExactArgs(1),
		RunE:    func(cmd *cobra.Command, args []string) error { return g.installOrUpgrade(cmd, args[0], &f, false) },
	}
	install.Flags().StringVar(&f.chart, "chart", "", "the chart's name, or SOURCE/REPOSITORY when the name is ambiguous")
	upgrade := &cobra.Command{
		Use: "upgrade NAME [--version V] [--set input=value …] [--wait]", Short: "Change a release's version or inputs (inputs not named are kept)",
		Example: "  plattr release upgrade cache --set size=3 --wait\n  plattr release upgrade cache --version 7.2.1",
		Args:    cobra.ExactArgs(1),
		RunE:    func(cmd *cobra.Command, args []string) error { return g.installOrUpgrade(cmd, args[0], &f, true) },
	}
	for _, c := range []*cobra.Command{install, upgrade} {
		c.Flags().StringVar(&f.version, "version", "", "the chart version (default: the newest, followed as new ones appear)")
		c.Flags().StringArrayVar(&f.sets, "set", nil, "an input of the chart's form, input=value (repeatable)")
		c.Flags().BoolVar(&f.wait, "wait", false, "wait until the release is Ready, showing its progress")
		c.Flags().DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long --wait waits")
	}
	_ = install.MarkFlagRequired("chart")
	cmd.AddCommand(install, upgrade)

	cmd.AddCommand(&cobra.Command{
		Use: "status NAME", Short: "Show a release's chart, revision, host and conditions", Args: cobra.ExactArgs(1),
		Example: "  plattr release status cache",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, rel, err := g.getRelease(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			_ = s
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Release:   %s/%s\nChart:     %s/%s %s\nRevision:  %d\nPhase:     %s\n", rel.Namespace, rel.Name,
				rel.Spec.Chart.Source, rel.Spec.Chart.Repository, rel.Spec.Chart.Version, rel.Status.Revision, rel.Status.Phase)
			if rel.Status.IngressHost != "" {
				fmt.Fprintf(out, "URL:       https://%s\n", rel.Status.IngressHost)
			}
			for _, c := range rel.Status.Conditions {
				fmt.Fprintf(out, "  %-12s %-6s %-20s %s\n", c.Type, c.Status, c.Reason, c.Message)
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "history NAME", Short: "Show a release's last 10 Helm revisions", Args: cobra.ExactArgs(1),
		Example: "  plattr release history cache",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, rel, err := g.getRelease(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "REVISION\tUPDATED\tSTATUS\tCHART\tAPP VERSION\tDESCRIPTION")
			for _, h := range rel.Status.History {
				updated := ""
				if h.LastDeployed != nil {
					updated = h.LastDeployed.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", h.Revision, updated, h.Status, h.Chart, h.AppVersion, h.Description)
			}
			return w.Flush()
		},
	})
	var wait bool
	rollback := &cobra.Command{
		Use: "rollback NAME REVISION", Short: "Roll back to a revision (held there until the next upgrade)", Args: cobra.ExactArgs(2),
		Example: "  plattr release rollback cache 1",
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return fmt.Errorf("REVISION %q: a revision number from `plattr release history %s`", args[1], args[0])
			}
			s, rel, err := g.getRelease(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			p := client.MergeFrom(rel.DeepCopy())
			rel.Spec.RollbackTo = ptr.To(int32(n))
			if err := s.c.Patch(cmd.Context(), rel, p); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "release %s rolling back to revision %d\n", rel.Name, n)
			if wait {
				return waitRelease(cmd, s.c, rel, 5*time.Minute)
			}
			return nil
		},
	}
	rollback.Flags().BoolVar(&wait, "wait", false, "wait until the release is Ready")
	cmd.AddCommand(rollback)
	cmd.AddCommand(&cobra.Command{
		Use: "uninstall NAME", Short: "Uninstall a release (its Helm release and the objects it made)", Args: cobra.ExactArgs(1),
		Example: "  plattr release uninstall cache",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, rel, err := g.getRelease(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := s.c.Delete(cmd.Context(), rel); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "release %s uninstalling\n", rel.Name)
			return nil
		},
	})
	return cmd
}

func (g *globals) getRelease(ctx context.Context, name string) (*session, *platformv1.ChartRelease, error) {
	s, err := g.session()
	if err != nil {
		return nil, nil, err
	}
	rel := &platformv1.ChartRelease{}
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, rel); err != nil {
		return nil, nil, fmt.Errorf("release %s in namespace %s: %w", name, s.ns, err)
	}
	return s, rel, nil
}

// installOrUpgrade writes the ChartRelease after checking --set against
// the chart version's values UI schema: nothing is written when an input
// is missing, unknown or of the wrong type.
func (g *globals) installOrUpgrade(cmd *cobra.Command, name string, f *releaseFlags, upgrade bool) error {
	ctx := cmd.Context()
	s, err := g.session()
	if err != nil {
		return err
	}
	rel := &platformv1.ChartRelease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns}}
	chart := f.chart
	if upgrade {
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(rel), rel); err != nil {
			return fmt.Errorf("release %s in namespace %s: %w", name, s.ns, err)
		}
		chart = rel.Spec.Chart.Source + "/" + rel.Spec.Chart.Repository
	}
	versions, err := chartVersions(ctx, s.c, chart)
	if err != nil {
		return err
	}
	want := f.version
	if want == "" && upgrade {
		want = rel.Spec.Chart.Version
	}
	cv := versions[0]
	if want != "" {
		found := false
		for _, v := range versions {
			if v.Spec.Version == want {
				cv, found = v, true
				break
			}
		}
		if !found {
			return fmt.Errorf("chart %s has no version %s: see `plattr chart show %s`", chart, want, chart)
		}
	}
	if cv.Status.Error != "" {
		return fmt.Errorf("%s %s cannot be installed: %s", cv.Spec.Chart, cv.Spec.Version, cv.Status.Error)
	}
	e, err := extensionsOf(&cv)
	if err != nil {
		return err
	}
	sets, err := parseSets(f.sets, e.UISchema)
	if err != nil {
		return err
	}
	// upgrade --set keeps the inputs it does not name.
	inputs := map[string]platformv1.ChartInput{}
	values := map[string]any{}
	for _, in := range rel.Spec.Inputs {
		inputs[in.Name] = in
		if in.Value != nil {
			var v any
			_ = json.Unmarshal(in.Value.Raw, &v)
			values[in.Name] = v
		} else {
			values[in.Name] = "(from a Secret)"
		}
	}
	for k, v := range sets {
		if in := e.UISchema; in != nil && in.Input(k) != nil && in.Input(k).Sensitive {
			return fmt.Errorf("--set %s: the input is sensitive: give it from a Secret (spec.inputs[].valueFrom.secretKeyRef), never on the command line", k)
		}
		b, _ := json.Marshal(v)
		inputs[k] = platformv1.ChartInput{Name: k, Value: &apiextensionsv1.JSON{Raw: b}}
		values[k] = v
	}
	if e.UISchema != nil {
		check := map[string]any{}
		for k, v := range values {
			if inputs[k].ValueFrom != nil {
				continue // a Secret's value is checked by the operator
			}
			check[k] = v
		}
		for i := range e.UISchema.Inputs {
			in := &e.UISchema.Inputs[i]
			if _, ok := inputs[in.ID]; ok && inputs[in.ID].ValueFrom != nil {
				check[in.ID] = placeholder(in)
			}
		}
		if err := e.UISchema.Validate(check); err != nil {
			return fmt.Errorf("the inputs do not fit %s %s's form:\n%w", cv.Spec.Chart, cv.Spec.Version, err)
		}
	} else if len(sets) > 0 {
		return fmt.Errorf("%s has no values UI schema: it takes no --set inputs", cv.Spec.Chart)
	}
	names := make([]string, 0, len(inputs))
	for k := range inputs {
		names = append(names, k)
	}
	sort.Strings(names)
	rel.Spec.Inputs = nil
	for _, k := range names {
		rel.Spec.Inputs = append(rel.Spec.Inputs, inputs[k])
	}
	rel.Spec.Chart = platformv1.ChartRef{Source: cv.Spec.Source, Repository: cv.Spec.Repository, Version: f.version}
	if upgrade && f.version == "" {
		rel.Spec.Chart.Version = want
	}
	rel.Spec.RollbackTo = nil
	if upgrade {
		err = s.c.Update(ctx, rel)
	} else {
		err = s.c.Create(ctx, rel)
	}
	if err != nil {
		return err
	}
	verb := "installing"
	if upgrade {
		verb = "upgrading"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "release %s %s %s %s\n", name, verb, cv.Spec.Chart, cv.Spec.Version)
	if f.wait {
		return waitRelease(cmd, s.c, rel, f.timeout)
	}
	return nil
}

// placeholder stands for a Secret-held input in the CLI's check (the
// operator checks its real value).
func placeholder(in *ext.Input) any {
	if in.Array {
		return []any{}
	}
	switch in.Type {
	case ext.Number:
		if in.Minimum != nil {
			return *in.Minimum
		}
		return 0.0
	case ext.Checkbox:
		return false
	case ext.DaysAndHour:
		return map[string]any{}
	case ext.RadioSelect:
		if len(in.Options) > 0 {
			var v any
			_ = json.Unmarshal(in.Options[0].Value, &v)
			return v
		}
	}
	if len(in.Options) > 0 {
		var v any
		_ = json.Unmarshal(in.Options[0].Value, &v)
		return v
	}
	return ""
}

// waitRelease follows the release until it is Ready at its generation
// or Failed, printing each change of its conditions.
func waitRelease(cmd *cobra.Command, c client.Client, rel *platformv1.ChartRelease, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	gen := rel.Generation
	seen := ""
	for {
		cur := &platformv1.ChartRelease{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(rel), cur); err != nil {
			return err
		}
		if gen == 0 {
			gen = cur.Generation
		}
		if cur.Status.ObservedGeneration >= gen {
			line := ""
			for _, t := range platformv1.ChartReleaseConditionTypes {
				if cond := meta.FindStatusCondition(cur.Status.Conditions, t); cond != nil {
					line += fmt.Sprintf("  %s=%s (%s)", t, cond.Status, cond.Reason)
				}
			}
			if line != seen {
				fmt.Fprintf(cmd.OutOrStdout(), "%s%s\n", time.Now().Format("15:04:05"), line)
				seen = line
			}
			ready := meta.FindStatusCondition(cur.Status.Conditions, platformv1.ConditionReady)
			switch {
			case ready != nil && ready.Status == metav1.ConditionTrue:
				fmt.Fprintf(cmd.OutOrStdout(), "release %s ready: revision %d\n", cur.Name, cur.Status.Revision)
				return nil
			case cur.Status.Phase == platformv1.PhaseFailed:
				return fmt.Errorf("release %s failed: %s", cur.Name, ready.Message)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("release %s not ready within %s: see `plattr release status %s`", rel.Name, timeout, rel.Name)
		case <-time.After(time.Second):
		}
	}
}
