package authz

import (
	"fmt"

	"github.com/plattr/plattr/internal/platformapi/store"
)

// DeployApp: run a new image of an existing app (an Upgrade task that
// changes spec.imageRef only). Whoever may operate the app may; a CI
// principal may on the apps its repository is named by, and nothing else.
const DeployApp Action = "deploy a new image of the app"

// PreviewApp: create or delete the app's pull request previews; a CI job
// may on its apps, under the same rule as DeployApp.
const PreviewApp Action = "create or delete the app's previews"

func init() {
	allowed[DeployApp] = allowed[OperateApp]
	allowed[PreviewApp] = allowed[OperateApp]
}

// RoleCI names, in a denial, what a CI job would need.
const RoleCI = "a GitHub Actions job of the repository the app's spec.repository names"

// CI is a GitHub Actions job signed in with its OIDC ID token: who it is
// (the token's claims, recorded with every task it makes) and the apps it
// may deploy. It holds no user and no role.
type CI struct {
	Repository   string // owner/name, as the token says it
	RepositoryID string
	OwnerID      string
	Ref          string // refs/heads/main, refs/pull/7/merge, refs/tags/v1
	Environment  string // the job's GitHub environment, if any
	EventName    string
	WorkflowRef  string // owner/name/.github/workflows/x.yml@ref
	// Apps are the apps whose spec.repository names Repository, and
	// whether this job may deploy each (production needs the default
	// branch or the protected environment).
	Apps map[store.AppKey]CIGrant
}

// CIGrant is a CI job's right on one app.
type CIGrant struct {
	// Deploy is false for a production app this job may not deploy; Why
	// says what would allow it.
	Deploy bool
	Why    string
}

// Actor is how tasks record the job: ci:github:owner/name@ref.
func (c *CI) Actor() string { return "ci:github:" + c.Repository + "@" + c.Ref }

// Actor is who a task records as its author: the user's email, or the CI
// job.
func (p *Principal) Actor() string {
	if p.CI != nil {
		return p.CI.Actor()
	}
	return p.User.Email
}

// checkCI: a CI job may view and deploy its own apps, nothing else.
func (p *Principal) checkCI(a Action, namespace, name string) error {
	g, ok := p.CI.Apps[store.AppKey{Namespace: namespace, Name: name}]
	switch {
	case !ok || name == "":
		return &Denied{Action: a, Need: []string{fmt.Sprintf("role %s on app %s/%s (repository %s is not this app's spec.repository)", RoleCI, namespace, name, p.CI.Repository)}}
	case a == ViewApp:
		return nil
	case (a == DeployApp || a == PreviewApp) && g.Deploy:
		return nil
	case a == DeployApp || a == PreviewApp:
		return &Denied{Action: a, Need: []string{"role " + g.Why}}
	}
	return &Denied{Action: a, Need: []string{fmt.Sprintf("role %s on app %s/%s, or site admin: a CI job may only deploy images", EnvAdmin, namespace, name)}}
}
