package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

func newDeployCommand(g *globals) *cobra.Command {
	var file, image string
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "deploy -f app.yaml",
		Short: "Apply an Application and, with --wait, follow it until it runs",
		Example: `  plattr deploy -f examples/minimal-app.yaml --wait
  plattr deploy -f app.yaml --image registry.example.com/app:2.0.1 --wait`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("-f is required: the Application manifest to apply (see examples/)")
			}
			c, ns, err := g.client()
			if err != nil {
				return err
			}
			app, manifest, err := readApplication(file)
			if err != nil {
				return err
			}
			if app.Namespace == "" {
				app.Namespace = ns
				manifest.SetNamespace(ns)
			}
			if image != "" {
				if err := unstructured.SetNestedField(manifest.Object, image, "spec", "imageRef"); err != nil {
					return err
				}
			}
			ctx := context.Background()
			if err := applyApplication(ctx, c, manifest); err != nil {
				return err
			}
			got := &platformv1.Application{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "application %s/%s applied (generation %d)\n", got.Namespace, got.Name, got.Generation)
			if !wait {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return waitRunning(ctx, c, got, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Application manifest (YAML)")
	cmd.Flags().StringVar(&image, "image", "", "image to run, replacing spec.imageRef")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the app is Running, printing each condition as it turns")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	return cmd
}

// readApplication reads a manifest twice: strictly into the typed struct,
// so an unknown or misspelt field is reported with its name, and as is, so
// exactly what the user wrote is applied (no zero values added).
func readApplication(path string) (*platformv1.Application, *unstructured.Unstructured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	app := &platformv1.Application{}
	if err := yaml.UnmarshalStrict(b, app); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if app.Kind != "Application" || app.APIVersion != platformv1.GroupVersion.String() {
		return nil, nil, fmt.Errorf("%s: want kind Application, apiVersion %s; got kind %q, apiVersion %q", path, platformv1.GroupVersion, app.Kind, app.APIVersion)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return app, u, nil
}

// applyApplication writes the manifest with server-side apply, leaving
// fields other tools own (such as envVars set by `plattr env`) alone.
func applyApplication(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
	unstructured.RemoveNestedField(u.Object, "status")
	if err := c.Patch(ctx, u, client.Apply, client.FieldOwner("plattr-cli"), client.ForceOwnership); err != nil {
		return fmt.Errorf("the API server refused the Application: %w", err)
	}
	return nil
}

// waitRunning follows the app until it is Running at its current
// generation, printing each condition as it changes. It fails on Failed.
func waitRunning(ctx context.Context, c client.Client, app *platformv1.Application, out io.Writer) error {
	start := time.Now()
	seen := map[string]string{}
	lastPhase := platformv1.Phase("")
	for {
		got := &platformv1.Application{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			return err
		}
		// observedGeneration moves only on success; a failure of the current
		// generation shows in the Ready condition's own observedGeneration.
		current := got.Status.ObservedGeneration >= app.Generation
		if ready := meta.FindStatusCondition(got.Status.Conditions, "Ready"); ready != nil && got.Status.Phase == platformv1.PhaseFailed {
			current = ready.ObservedGeneration >= app.Generation
		}
		for _, cond := range got.Status.Conditions {
			key := string(cond.Status) + "|" + cond.Reason + "|" + cond.Message
			if seen[cond.Type] != key {
				seen[cond.Type] = key
				fmt.Fprintf(out, "  %6s  %-16s %-5s %-20s %s\n", since(start), cond.Type, cond.Status, cond.Reason, cond.Message)
			}
		}
		if got.Status.Phase != lastPhase {
			lastPhase = got.Status.Phase
			fmt.Fprintf(out, "  %6s  phase %s\n", since(start), lastPhase)
		}
		if current {
			switch got.Status.Phase {
			case platformv1.PhaseRunning:
				fmt.Fprintf(out, "%s is Running at %s (%s)\n", got.Name, got.Status.URL, since(start))
				return nil
			case platformv1.PhaseFailed:
				return fmt.Errorf("%s failed: %s", got.Name, readyMessage(got))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not Running after %s (phase %s): %s", got.Name, since(start), orUnknown(got.Status.Phase), readyMessage(got))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func readyMessage(app *platformv1.Application) string {
	if c := meta.FindStatusCondition(app.Status.Conditions, "Ready"); c != nil && c.Status != metav1.ConditionTrue {
		return c.Message
	}
	return "no condition reported yet; is the operator running? (`plattr dev status`)"
}

func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }

func orUnknown(p platformv1.Phase) string {
	if p == "" {
		return "not set yet"
	}
	return string(p)
}
