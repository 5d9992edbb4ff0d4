package cli

import (
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

// ProjectFile is the app's description in its repository.
const ProjectFile = "plattr.yaml"

// Project is plattr.yaml: the app's name and its Application spec, with
// the same field names (`environment` is where `plattr deploy` goes
// without --env).
type Project struct {
	Name                       string `json:"name"`
	platformv1.ApplicationSpec `json:",inline"`
}

// loadProject reads plattr.yaml strictly: a misspelt field is named.
func loadProject(path string) (*Project, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no %s here: run `plattr init` to describe your app, or pass -f with an Application manifest", path)
	}
	if err != nil {
		return nil, err
	}
	p := &Project{}
	if err := yaml.UnmarshalStrict(b, p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.Name == "" {
		return nil, fmt.Errorf("%s: name is empty; set it to the app's name (lowercase letters, digits and '-')", path)
	}
	return p, nil
}

// application is the Application the project asks for in namespace ns.
func (p *Project) application(ns string, env platformv1.Environment, image string) *platformv1.Application {
	app := &platformv1.Application{Spec: *p.ApplicationSpec.DeepCopy()}
	app.APIVersion, app.Kind = platformv1.GroupVersion.String(), "Application"
	app.Name, app.Namespace = p.Name, ns
	if env != "" {
		app.Spec.Environment = env
	}
	if image != "" {
		app.Spec.ImageRef = image
	}
	return app
}

// resolveEnv maps an environment to its namespace (docs/CLI.md#which-app-which-namespace): preview needs
// a pull request and is preview-<app>-pr-<N>; every other environment is
// the namespace of the same name.
func resolveEnv(env platformv1.Environment, app string, pr int) (string, error) {
	switch env {
	case platformv1.EnvironmentPreview:
		if pr <= 0 {
			return "", errors.New("--env preview needs --pr N, the pull request's number")
		}
		return naming.Preview{App: app, PR: int32(pr)}.Namespace(), nil
	case platformv1.EnvironmentStaging, platformv1.EnvironmentUAT, platformv1.EnvironmentProduction:
		return string(env), nil
	}
	return "", fmt.Errorf("environment %q is not one of staging, uat, production, preview", env)
}
