package authn_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authn"
)

func app(repo string, env platformv1.Environment, ann map[string]string) *platformv1.Application {
	return &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "hello", Annotations: ann},
		Spec: platformv1.ApplicationSpec{Repository: repo, Environment: env}}
}

func TestCanonicalRepository(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/example/hello":          "example/hello",
		"https://github.com/Example/Hello":  "example/hello",
		"github.com/example/hello.git":      "example/hello",
		"github.com/example/hello/":         "example/hello",
		"github.com/example/hello/tree/x":   "",
		"gitlab.com/example/hello":          "",
		"github.com.evil.com/example/hello": "",
		"example/hello":                     "",
		"github.com/example":                "",
		"github.com/../hello":               "",
	} {
		got, ok := authn.CanonicalRepository(in)
		if got != want || ok != (want != "") {
			t.Errorf("CanonicalRepository(%q) = %q %t, want %q", in, got, ok, want)
		}
	}
}

func TestGrant(t *testing.T) {
	claims := func(repo, ref, event, env string) authn.JobClaims {
		owner, _, _ := strings.Cut(repo, "/")
		return authn.JobClaims{Repository: repo, RepositoryOwner: owner, RepositoryID: "7", Ref: ref, EventName: event, Environment: env}
	}
	for _, c := range []struct {
		name        string
		job         authn.JobClaims
		app         *platformv1.Application
		maps, allow bool
	}{
		{"staging from a branch", claims("example/hello", "refs/heads/x", "push", ""), app("github.com/example/hello", "staging", nil), true, true},
		{"staging from a pull request", claims("example/hello", "refs/pull/1/merge", "pull_request", ""), app("github.com/example/hello", "staging", nil), true, true},
		{"a longer name", claims("example/hello-evil", "refs/heads/main", "push", ""), app("github.com/example/hello", "staging", nil), false, false},
		{"a shorter name", claims("example/hell", "refs/heads/main", "push", ""), app("github.com/example/hello", "staging", nil), false, false},
		{"production from main", claims("example/hello", "refs/heads/main", "push", ""), app("github.com/example/hello", "production", nil), true, true},
		{"production from a branch", claims("example/hello", "refs/heads/x", "push", ""), app("github.com/example/hello", "production", nil), true, false},
		{"production from pull_request_target", claims("example/hello", "refs/heads/main", "pull_request_target", ""), app("github.com/example/hello", "production", nil), true, false},
		{"production in the environment", claims("example/hello", "refs/heads/x", "workflow_dispatch", "production"), app("github.com/example/hello", "production", nil), true, true},
		{"production, a PR naming the environment", claims("example/hello", "refs/pull/1/merge", "pull_request", "production"), app("github.com/example/hello", "production", nil), true, false},
		{"production from another default branch", claims("example/hello", "refs/heads/trunk", "push", ""), app("github.com/example/hello", "production", map[string]string{platformv1.AnnotationCIDefaultBranch: "trunk"}), true, true},
		{"main is not the default then", claims("example/hello", "refs/heads/main", "push", ""), app("github.com/example/hello", "production", map[string]string{platformv1.AnnotationCIDefaultBranch: "trunk"}), true, false},
		{"a pinned id", claims("example/hello", "refs/heads/main", "push", ""), app("github.com/example/hello", "staging", map[string]string{platformv1.AnnotationCIRepositoryID: "8"}), false, false},
	} {
		g, ok := authn.Grant(c.job, c.app, "production")
		if ok != c.maps || g.Deploy != c.allow {
			t.Errorf("%s: maps %t deploy %t, want %t %t (%s)", c.name, ok, g.Deploy, c.maps, c.allow, g.Why)
		}
	}
}

var ownerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$`)

// FuzzGitHubClaims feeds hostile claims (a token's verified body is still
// whatever the job's repository could make GitHub put in it) to the
// parser and the mapper: no panic; an accepted token's repository is
// exactly owner/name; it maps only to an app naming that repository; and
// production is granted only to the default branch's ref or the protected
// environment, never to a pull request event.
func FuzzGitHubClaims(f *testing.F) {
	f.Add(`{"repository":"example/hello","repository_owner":"example","ref":"refs/heads/main","event_name":"push"}`, "github.com/example/hello", "production", "")
	f.Add(`{"repository":"example/hello-evil","repository_owner":"example","ref":"refs/heads/x"}`, "github.com/example/hello", "staging", "")
	f.Add(`{"repository":"example/hello","repository_owner":"example","ref":"refs/heads/main","event_name":"pull_request_target"}`, "https://github.com/example/hello.git", "production", "main")
	f.Add(`{"repository":"a/b","repository_owner":"a","ref":"refs/heads/x","environment":"production"}`, "github.com/A/B", "production", "")
	f.Add(`{"repository":"../x","repository_owner":"..","ref":"refs/heads/../main"}`, "github.com/../x", "production", "")
	f.Add(`{"repository":7}`, "", "", "")
	f.Fuzz(func(t *testing.T, body, repo, env, branch string) {
		c, err := authn.ParseJobClaims([]byte(body))
		if err != nil {
			return
		}
		if !ownerName.MatchString(c.Repository) || strings.Count(c.Repository, "/") != 1 {
			t.Fatalf("accepted repository %q", c.Repository)
		}
		owner, _, _ := strings.Cut(c.Repository, "/")
		if !strings.EqualFold(owner, c.RepositoryOwner) {
			t.Fatalf("accepted owner %q for %q", c.RepositoryOwner, c.Repository)
		}
		var ann map[string]string
		if branch != "" {
			ann = map[string]string{platformv1.AnnotationCIDefaultBranch: branch}
		}
		a := app(repo, platformv1.Environment(env), ann)
		g, ok := authn.Grant(c, a, "production")
		if !ok {
			return
		}
		canon, _ := authn.CanonicalRepository(repo)
		if canon != strings.ToLower(c.Repository) {
			t.Fatalf("%q mapped to an app of %q", c.Repository, repo)
		}
		if g.Deploy && a.Spec.Environment == platformv1.EnvironmentProduction {
			def := branch
			if def == "" {
				def = "main"
			}
			if strings.HasPrefix(c.EventName, "pull_request") || (c.Ref != "refs/heads/"+def && c.Environment != "production") {
				b, _ := json.Marshal(c)
				t.Fatalf("production granted to %s (default branch %q)", b, def)
			}
		}
	})
}
