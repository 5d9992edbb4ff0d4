package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/apiclient"
	"github.com/plattr/plattr/internal/naming"
)

func newPreviewCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Create, list and delete a pull request's preview environment",
		Example: `  plattr preview create --pr 42 --image registry.example.com/web:pr-42 --wait
  plattr preview list
  plattr preview delete --pr 42`,
	}
	cmd.AddCommand(newPreviewCreateCommand(g), newPreviewListCommand(g), newPreviewDeleteCommand(g))
	return cmd
}

// previewParent is the app a preview command is about and its namespace —
// the parent's, where PreviewEnvironments live.
func previewParent(g *globals, tf *targetFlags, args []string) (*session, target, error) {
	pr := tf.pr
	tf.pr, tf.env = 0, "" // the parent, not the preview's own namespace
	s, t, err := g.target(tf, args)
	tf.pr = pr
	return s, t, err
}

func previewName(app string, pr int) string { return fmt.Sprintf("%s-pr-%d", app, pr) }

func newPreviewCreateCommand(g *globals) *cobra.Command {
	var tf targetFlags
	var image, ttl, branch string
	var copyData, wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "create [app] --pr N --image IMAGE",
		Short: "Create (or update) the preview of a pull request",
		Example: `  plattr preview create --pr 42 --image registry.example.com/web:pr-42 --wait
  plattr preview create web --pr 7 --image registry.example.com/web:sha-1a2b --ttl 24h --copy-data`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tf.pr <= 0 || image == "" {
				return errors.New("--pr N and --image IMAGE are required: the pull request's number and the image built from it")
			}
			if apiclient.Wanted(g.api) {
				if copyData || branch != "" {
					return errors.New("--copy-data and --branch are not available through the platform API (PLATTR_API_URL or GitHub Actions): leave them out")
				}
				return previewThroughAPI(cmd, g, &tf, args, image, ttl, wait, timeout)
			}
			s, t, err := previewParent(g, &tf, args)
			if err != nil {
				return err
			}
			pe := &platformv1.PreviewEnvironment{
				TypeMeta:   metav1.TypeMeta{APIVersion: platformv1.GroupVersion.String(), Kind: "PreviewEnvironment"},
				ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: previewName(t.app, tf.pr)},
				Spec:       platformv1.PreviewEnvironmentSpec{ApplicationRef: t.app, PullRequest: int32(tf.pr), ImageRef: image, TTL: ttl, Branch: branch},
			}
			if copyData {
				pe.Spec.Database = &platformv1.PreviewDatabaseSpec{CopyFrom: "parent"}
			}
			u, err := toUnstructured(pe)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := s.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("plattr-cli"), client.ForceOwnership); err != nil {
				return fmt.Errorf("the API server refused the preview: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "preview %s/%s of PR %d applied\n", t.ns, pe.Name, tf.pr)
			if !wait {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return waitPreview(ctx, s.c, client.ObjectKeyFromObject(pe), cmd)
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVar(&image, "image", "", "the pull request's image")
	cmd.Flags().StringVar(&ttl, "ttl", "", "how long it lives, like 30m, 72h or 7d (default 72h, capped by the platform)")
	cmd.Flags().StringVar(&branch, "branch", "", "the pull request's branch")
	cmd.Flags().BoolVar(&copyData, "copy-data", false, "start with a copy of the app's data (when the platform allows it)")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the preview is Running")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	return cmd
}

func waitPreview(ctx context.Context, c client.WithWatch, key client.ObjectKey, cmd *cobra.Command) error {
	start := time.Now()
	out := cmd.OutOrStdout()
	seen := map[string]string{}
	var last *platformv1.PreviewEnvironment
	err := watchObject(ctx, c, key, &platformv1.PreviewEnvironment{}, &platformv1.PreviewEnvironmentList{}, func(pe *platformv1.PreviewEnvironment) (bool, error) {
		last = pe
		for _, cond := range pe.Status.Conditions {
			k := string(cond.Status) + "|" + cond.Reason + "|" + cond.Message
			if seen[cond.Type] != k {
				seen[cond.Type] = k
				fmt.Fprintf(out, "  %6s  %-16s %-5s %-20s %s\n", since(start), cond.Type, cond.Status, cond.Reason, cond.Message)
			}
		}
		if pe.Status.ObservedGeneration < pe.Generation && pe.Status.Phase != platformv1.PhaseFailed {
			return false, nil
		}
		switch pe.Status.Phase {
		case platformv1.PhaseRunning:
			fmt.Fprintf(out, "preview %s is Running at %s (%s), until %s\n", pe.Name, pe.Status.URL, since(start), pe.Status.ExpiresAt.UTC().Format(time.RFC3339))
			return true, nil
		case platformv1.PhaseFailed:
			return true, fmt.Errorf("preview %s failed: %s", pe.Name, previewReady(pe))
		}
		return false, nil
	})
	if errors.Is(err, context.DeadlineExceeded) && last != nil {
		return fmt.Errorf("preview %s is not Running after %s (phase %s): %s", last.Name, since(start), orUnknown(last.Status.Phase), previewReady(last))
	}
	return err
}

func previewReady(pe *platformv1.PreviewEnvironment) string {
	if c := meta.FindStatusCondition(pe.Status.Conditions, platformv1.ConditionReady); c != nil {
		return c.Message
	}
	return "no condition reported yet; is the operator running?"
}

func newPreviewListCommand(g *globals) *cobra.Command {
	var tf targetFlags
	cmd := &cobra.Command{
		Use:     "list [app]",
		Short:   "List the app's previews",
		Example: "  plattr preview list\n  plattr preview list web -n default",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, t, err := previewParent(g, &tf, args)
			if err != nil {
				return err
			}
			list := &platformv1.PreviewEnvironmentList{}
			if err := s.c.List(cmd.Context(), list, client.InNamespace(t.ns)); err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			defer w.Flush()
			fmt.Fprintln(w, "PR\tPHASE\tURL\tEXPIRES\tIMAGE")
			for _, pe := range list.Items {
				if pe.Spec.ApplicationRef != t.app {
					continue
				}
				expires := "-"
				if pe.Status.ExpiresAt != nil {
					expires = pe.Status.ExpiresAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", pe.Spec.PullRequest, orUnknown(pe.Status.Phase), orDash(pe.Status.URL), expires, pe.Spec.ImageRef)
			}
			return nil
		},
	}
	tf.add(cmd)
	return cmd
}

func newPreviewDeleteCommand(g *globals) *cobra.Command {
	var tf targetFlags
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:     "delete [app] --pr N",
		Short:   "Delete a pull request's preview and everything it has",
		Example: "  plattr preview delete --pr 42 --wait",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tf.pr <= 0 {
				return errors.New("--pr N is required: the pull request's number")
			}
			if apiclient.Wanted(g.api) {
				return previewThroughAPI(cmd, g, &tf, args, "", "", wait, timeout)
			}
			s, t, err := previewParent(g, &tf, args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			pe := &platformv1.PreviewEnvironment{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: previewName(t.app, tf.pr)}}
			if err := s.c.Delete(ctx, pe); err != nil {
				if apierrors.IsNotFound(err) {
					return fmt.Errorf("%s has no preview of PR %d in namespace %s (plattr preview list)", t.app, tf.pr, t.ns)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "preview %s/%s is being deleted\n", t.ns, pe.Name)
			if !wait {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err = watchObject(ctx, s.c, client.ObjectKeyFromObject(pe), &platformv1.PreviewEnvironment{}, &platformv1.PreviewEnvironmentList{},
				func(*platformv1.PreviewEnvironment) (bool, error) { return false, nil })
			if !apierrors.IsNotFound(err) && !errors.Is(err, errDeleted) {
				return err
			}
			// Its namespace, with the pods, goes last.
			tenant := tenantOf(ctx, s.c, pe.Namespace)
			ns := naming.Preview{App: t.app, PR: int32(tf.pr), Tenant: tenant}.Namespace()
			err = watchObject(ctx, s.c, client.ObjectKey{Name: ns}, &corev1.Namespace{}, &corev1.NamespaceList{},
				func(*corev1.Namespace) (bool, error) { return false, nil })
			if !apierrors.IsNotFound(err) && !errors.Is(err, errDeleted) {
				return fmt.Errorf("waiting for namespace %s to go: %w", ns, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "preview %s and namespace %s are gone (%s)\n", pe.Name, ns, since(start))
			return nil
		},
	}
	tf.add(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the preview and everything it has are gone")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	return cmd
}
