package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/apiclient"
)

// apiPoll is how often --wait asks the API.
var apiPoll = time.Second

// deployThroughAPI deploys an image through the platform API: the way CI
// deploys, with the job's OIDC ID token and no cluster credential. The
// API records an Upgrade task that changes spec.imageRef only; the rest of
// the spec stays what the app's owners set.
func deployThroughAPI(cmd *cobra.Command, g *globals, tf *targetFlags, file, image string, wait bool, timeout time.Duration) error {
	c, err := apiclient.New(g.api)
	if err != nil {
		return err
	}
	ns, name := *g.kube.Namespace, ""
	var fromFile *platformv1.Application
	if file != "" {
		app, _, err := readApplication(file)
		if err != nil {
			return err
		}
		fromFile = app
		name = app.Name
		if ns == "" {
			ns = app.Namespace
		}
		if image == "" {
			image = app.Spec.ImageRef
		}
	} else {
		t, err := tf.resolve(&session{ns: ns, explicit: ns != ""}, nil)
		if err != nil {
			return err
		}
		if t.env == platformv1.EnvironmentPreview {
			return errors.New("previews are made from pull requests: plattr preview create --pr N --image IMAGE")
		}
		name, ns = t.app, t.ns
		if image == "" && t.project != nil && t.project.Name == t.app {
			if u, err := toUnstructured(t.project.application(t.ns, t.env, "")); err == nil {
				image, _, _ = unstructured.NestedString(u.Object, "spec", "imageRef")
			}
		}
	}
	if ns == "" {
		return fmt.Errorf("which namespace is %s in? pass -n, or --env (or environment in plattr.yaml)", name)
	}
	if image == "" {
		return errors.New("--image is required: through the platform API, deploy runs a new image (change the rest of the app in the portal or with PUT /api/v1/apps)")
	}
	out := cmd.OutOrStdout()
	ctx := cmd.Context()
	task, err := c.Deploy(ctx, ns, name, image)
	var apiErr *apiclient.Error
	if fromFile != nil && !c.Keyless && errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		// A new app described by a file: installed with its whole spec, as
		// its creator's task (a CI job creates no apps: the API refuses it).
		spec := fromFile.Spec
		spec.ImageRef = image
		task, err = c.Install(ctx, ns, name, spec)
	}
	if err != nil {
		return err
	}
	how := "with your API token"
	if c.Keyless {
		how = "with this GitHub Actions job's OIDC token"
	}
	fmt.Fprintf(out, "deploy of %s to %s/%s recorded as task %d by %s (%s)\n", image, ns, name, task.ID, task.Actor, how)
	if !wait {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if _, err := c.WaitTask(ctx, task.ID, apiPoll); err != nil {
		return err
	}
	fmt.Fprintf(out, "  %6s  task %d done: the Application has image %s\n", since(start), task.ID, image)
	last := ""
	for {
		a, err := c.GetApp(ctx, ns, name)
		if err != nil {
			return err
		}
		if a.Phase != last {
			last = a.Phase
			fmt.Fprintf(out, "  %6s  phase %s\n", since(start), a.Phase)
		}
		if a.ObservedGeneration >= a.Generation && a.Image == image {
			switch platformv1.Phase(a.Phase) {
			case platformv1.PhaseRunning:
				fmt.Fprintf(out, "%s is Running at %s (%s)\n", name, a.URL, since(start))
				return nil
			case platformv1.PhaseFailed:
				return fmt.Errorf("%s failed: see `plattr status` or the portal", name)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not Running after %s (phase %s)", name, since(start), orUnknown(platformv1.Phase(a.Phase)))
		case <-time.After(apiPoll):
		}
	}
}

// previewThroughAPI creates (image set) or deletes (image empty) a pull
// request's preview through the platform API, as CI does keyless.
func previewThroughAPI(cmd *cobra.Command, g *globals, tf *targetFlags, args []string, image, ttl string, wait bool, timeout time.Duration) error {
	c, err := apiclient.New(g.api)
	if err != nil {
		return err
	}
	pr := tf.pr
	tf.pr, tf.env = 0, "" // the parent app, where previews are asked for
	ns := *g.kube.Namespace
	t, err := tf.resolve(&session{ns: ns, explicit: ns != ""}, args)
	tf.pr = pr
	if err != nil {
		return err
	}
	if t.ns == "" {
		return fmt.Errorf("which namespace is %s in? pass -n, or environment in plattr.yaml", t.app)
	}
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	name := previewName(t.app, pr)
	var task apiclient.Task
	if image != "" {
		task, err = c.CreatePreview(ctx, t.ns, t.app, pr, image, ttl)
	} else {
		task, err = c.DeletePreview(ctx, t.ns, t.app, name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "preview %s/%s of PR %d: task %d recorded by %s\n", t.ns, name, pr, task.ID, task.Actor)
	if !wait {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if _, err := c.WaitTask(ctx, task.ID, apiPoll); err != nil {
		return err
	}
	for {
		a, err := c.GetApp(ctx, t.ns, t.app)
		if err != nil {
			return err
		}
		var found *apiclient.Preview
		for i := range a.Previews {
			if a.Previews[i].Name == name {
				found = &a.Previews[i]
			}
		}
		switch {
		case image == "" && found == nil:
			fmt.Fprintf(out, "preview %s is gone (%s)\n", name, since(start))
			return nil
		case image != "" && found != nil && found.Phase == string(platformv1.PhaseRunning):
			fmt.Fprintf(out, "preview %s is Running at %s (%s)\n", name, found.URL, since(start))
			return nil
		case image != "" && found != nil && found.Phase == string(platformv1.PhaseFailed):
			return fmt.Errorf("preview %s failed: see the portal", name)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("preview %s: still waiting after %s", name, since(start))
		case <-time.After(apiPoll):
		}
	}
}
