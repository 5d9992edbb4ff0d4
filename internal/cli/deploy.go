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
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/apiclient"
)

func newDeployCommand(g *globals) *cobra.Command {
	var file, image string
	var wait bool
	var timeout time.Duration
	var tf targetFlags
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Apply the app (plattr.yaml, or -f an Application manifest) and, with --wait, follow it until it runs",
		Long: `Apply the app (plattr.yaml, or -f an Application manifest) and, with --wait, follow it until it runs.

With PLATTR_API_URL (or --api-url) set, or inside a GitHub Actions job
that may request an OIDC ID token (ACTIONS_ID_TOKEN_REQUEST_URL), deploy goes
through the platform API instead of the cluster: it deploys the image only
(an Upgrade task recorded in the app's history), authenticated by
PLATTR_TOKEN or, in GitHub Actions, by the job's own ID token — no
kubeconfig.`,
		Example: `  plattr deploy --wait                       # plattr.yaml, to its environment
  plattr deploy --env production --image registry.example.com/app:2.0.1 --wait --timeout 10m
  plattr deploy -f examples/minimal-app.yaml --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if apiclient.Wanted(g.api) {
				return deployThroughAPI(cmd, g, &tf, file, image, wait, timeout)
			}
			s, err := g.session()
			if err != nil {
				return err
			}
			var manifest *unstructured.Unstructured
			key := client.ObjectKey{}
			if file != "" {
				app, u, err := readApplication(file)
				if err != nil {
					return err
				}
				if app.Namespace == "" {
					u.SetNamespace(s.ns)
				}
				if image != "" {
					if err := unstructured.SetNestedField(u.Object, image, "spec", "imageRef"); err != nil {
						return err
					}
				}
				manifest, key = u, client.ObjectKey{Namespace: u.GetNamespace(), Name: u.GetName()}
			} else {
				t, err := tf.resolve(s, nil)
				if err != nil {
					return err
				}
				if t.project == nil || t.project.Name != t.app {
					return fmt.Errorf("no %s for %s here: run `plattr init`, or pass -f with an Application manifest", tf.project, t.app)
				}
				if t.env == platformv1.EnvironmentPreview {
					return errors.New("previews are made from pull requests: plattr preview create --pr N --image IMAGE")
				}
				if manifest, err = toUnstructured(t.project.application(t.ns, t.env, image)); err != nil {
					return err
				}
				key = client.ObjectKey{Namespace: t.ns, Name: t.app}
			}
			ctx := cmd.Context()
			if err := applyApplication(ctx, s.c, manifest); err != nil {
				return err
			}
			got := &platformv1.Application{}
			if err := s.c.Get(ctx, key, got); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "application %s/%s applied (generation %d)\n", got.Namespace, got.Name, got.Generation)
			if !wait {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return waitRunning(ctx, s.c, got, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "an Application manifest (YAML) instead of plattr.yaml")
	cmd.Flags().StringVar(&image, "image", "", "image to run, replacing imageRef")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the app is Running, printing each condition as it turns")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	tf.add(cmd)
	return cmd
}

// toUnstructured turns a typed object into what server-side apply sends:
// only the fields set (the types' omitempty), never a status.
func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	return u, nil
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
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("plattr-cli"), client.ForceOwnership); err != nil {
		return fmt.Errorf("the API server refused the Application: %w", err)
	}
	return nil
}

// waitRunning follows the app by watching it until it is Running at its
// current generation, printing each condition as it changes. It fails on
// Failed, with the failing reason, and on the deadline.
func waitRunning(ctx context.Context, c client.WithWatch, app *platformv1.Application, out io.Writer) error {
	start := time.Now()
	seen := map[string]string{}
	lastPhase := platformv1.Phase("")
	var last *platformv1.Application
	err := watchObject(ctx, c, client.ObjectKeyFromObject(app), &platformv1.Application{}, &platformv1.ApplicationList{}, func(got *platformv1.Application) (bool, error) {
		last = got
		// observedGeneration is written on every status write (kstatus), so
		// it alone says the phase is the current generation's; the Ready
		// condition's own observedGeneration says so too, for a Failed app
		// written by an operator older than that rule.
		current := got.Status.ObservedGeneration >= app.Generation
		if ready := meta.FindStatusCondition(got.Status.Conditions, platformv1.ConditionReady); ready != nil && got.Status.Phase == platformv1.PhaseFailed {
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
		if !current {
			return false, nil
		}
		switch got.Status.Phase {
		case platformv1.PhaseRunning:
			fmt.Fprintf(out, "%s is Running at %s (%s)\n", got.Name, got.Status.URL, since(start))
			return true, nil
		case platformv1.PhaseFailed:
			return true, fmt.Errorf("%s failed: %s", got.Name, readyMessage(got))
		}
		return false, nil
	})
	if errors.Is(err, context.DeadlineExceeded) && last != nil {
		return fmt.Errorf("%s is not Running after %s (phase %s): %s", last.Name, since(start), orUnknown(last.Status.Phase), readyMessage(last))
	}
	return err
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
