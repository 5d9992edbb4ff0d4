package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// targetFlags say which app a command is about and where it runs.
type targetFlags struct {
	app     string
	env     string
	pr      int
	project string
}

func (tf *targetFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&tf.app, "app", "", "the app (default: name in plattr.yaml)")
	cmd.Flags().StringVar(&tf.env, "env", "", "environment: staging, uat, production or preview (default: -n, else environment in plattr.yaml)")
	cmd.Flags().IntVar(&tf.pr, "pr", 0, "pull request number, with --env preview")
	cmd.Flags().StringVar(&tf.project, "config", ProjectFile, "the app's plattr.yaml")
}

// target is one app in one namespace.
type target struct {
	app     string
	ns      string
	env     platformv1.Environment
	project *Project // nil without plattr.yaml
}

// resolve finds the app — an argument, --app, or plattr.yaml's name — and
// its namespace: -n when given, else the environment's (--env, else
// plattr.yaml's) by resolveEnv, else the kubeconfig's.
func (tf *targetFlags) resolve(s *session, args []string) (target, error) {
	var t target
	if p, err := loadProject(tf.project); err == nil {
		t.project = p
	} else if tf.project != ProjectFile || fileExists(tf.project) {
		return t, err // asked for a file that cannot be read, or a broken plattr.yaml
	}
	switch {
	case len(args) > 0:
		t.app = args[0]
	case tf.app != "":
		t.app = tf.app
	case t.project != nil:
		t.app = t.project.Name
	default:
		return t, errors.New("which app? name it (--app NAME) or run where its plattr.yaml is (`plattr init` writes one)")
	}
	t.env = platformv1.Environment(tf.env)
	switch {
	case t.env != "":
	case tf.pr > 0: // --pr alone means the preview
		t.env = platformv1.EnvironmentPreview
	case t.project != nil && t.project.Name == t.app:
		t.env = t.project.Environment
	}
	switch {
	case s.explicit:
		t.ns = s.ns
	case t.env != "":
		ns, err := resolveEnv(t.env, t.app, tf.pr)
		if err != nil {
			return t, err
		}
		t.ns = ns
	default:
		t.ns = s.ns
	}
	if t.env == platformv1.EnvironmentPreview && tf.pr <= 0 {
		return t, fmt.Errorf("--env preview needs --pr N, the pull request's number")
	}
	return t, nil
}

// target opens a session and resolves the app the flags and args name.
func (g *globals) target(tf *targetFlags, args []string) (*session, target, error) {
	s, err := g.session()
	if err != nil {
		return nil, target{}, err
	}
	t, err := tf.resolve(s, args)
	return s, t, err
}
