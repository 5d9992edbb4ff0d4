package platformapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authn/githubtest"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// The issuer here is githubtest's, standing in for GitHub Actions' OIDC
// provider (GitHub cannot run here): it serves GitHub's documented
// discovery document and JWKS and mints tokens with GitHub's documented
// claims. Each test is what a job of some repository tries with its own
// token; before keyless CI the API refused every such token:
// "HTTP 401 ... sign in, or send an API token".

func ciApp(t *testing.T, adminC *caller, ns, name, repo string, env platformv1.Environment) {
	t.Helper()
	sp := spec("registry.example.com/" + name + ":1")
	sp.Repository, sp.Environment = repo, env
	task := createAppSpec(t, adminC, ns, name, sp)
	waitTask(t, adminC, task.ID, store.TaskDone)
}

func ciAs(claims githubtest.Claims) *caller {
	return &caller{base: apiA.URL, token: ghIssuer.Mint(claims)}
}

func job(repo, ref string) githubtest.Claims { return ghIssuer.Job(repo, ref, ciAudience) }

func deploy(image string) map[string]any { return map[string]any{"imageRef": image} }

func TestCIJobDeploysOnlyItsRepositorysApps(t *testing.T) {
	adminC := admin(t)
	ciApp(t, adminC, "team-a", "ci-hello", "github.com/example/hello", platformv1.EnvironmentStaging)
	ciApp(t, adminC, "team-a", "ci-other", "github.com/example/other", platformv1.EnvironmentStaging)
	ciApp(t, adminC, "team-c", "ci-tenant-c", "github.com/someone/else", platformv1.EnvironmentStaging)

	// (a) A job of example/hello, on any branch, deploys its staging app:
	// a recorded Upgrade task with the job as actor, changing the image.
	hello := ciAs(job("example/hello", "refs/heads/feature"))
	var task store.Task
	hello.must(t, 202, "POST", "/api/v1/apps/team-a/ci-hello/deploy", deploy("registry.example.com/ci-hello:2"), &task)
	if task.Actor != "ci:github:example/hello@refs/heads/feature" || task.Operation != store.OpUpgrade {
		t.Fatalf("task actor %q operation %q", task.Actor, task.Operation)
	}
	var got store.Task
	hello.must(t, 200, "GET", "/api/v1/tasks/"+itoa(task.ID), nil, &got)
	if done := waitTask(t, adminC, task.ID, store.TaskDone); !strings.Contains(string(mustJSON(t, done.Request)), "plattr-deploy.yml@refs/heads/feature") {
		t.Errorf("the task does not record the workflow: %s", mustJSON(t, done.Request))
	}
	live := &platformv1.Application{}
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "ci-hello"}, live); err != nil || live.Spec.ImageRef != "registry.example.com/ci-hello:2" || live.Spec.Repository != "github.com/example/hello" {
		t.Fatalf("after the deploy: %v image %q", err, live.Spec.ImageRef)
	}

	// (b) The same token reaches nothing else: not another app of the
	// namespace, not another tenant's, not delete, a full spec, restart,
	// roles, tokens, lists or the event stream.
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/v1/apps/team-a/ci-other/deploy"},
		{"GET", "/api/v1/apps/team-a/ci-other"},
		{"GET", "/api/v1/apps/team-c/ci-tenant-c"},
		{"POST", "/api/v1/apps/team-c/ci-tenant-c/deploy"},
		{"DELETE", "/api/v1/apps/team-a/ci-hello"},
		{"PUT", "/api/v1/apps/team-a/ci-hello"},
		{"POST", "/api/v1/apps/team-a/ci-hello/restart"},
		{"POST", "/api/v1/apps/team-a/ci-hello/reinstall"},
		{"PUT", "/api/v1/apps/team-a/ci-hello/members/evil@plattr.test"},
		{"GET", "/api/v1/apps"},
		{"GET", "/api/v1/me"},
		{"POST", "/api/v1/tokens"},
		{"GET", "/api/v1/tenants"},
		{"POST", "/api/v1/apps"},
		{"GET", "/api/v1/events"},
	} {
		body := any(deploy("registry.example.com/evil:1"))
		if c.method == "PUT" {
			body = map[string]any{"spec": spec("registry.example.com/evil:1"), "role": "Owner"}
		}
		if code, b := hello.do(t, c.method, c.path, body, nil); code != 403 {
			t.Errorf("%s %s as example/hello's job: HTTP %d, want 403: %s", c.method, c.path, code, b)
		}
	}

	// (e) No prefix or suffix matching: example/hello-evil and example/hell
	// are other repositories.
	for _, repo := range []string{"example/hello-evil", "example/hell", "evil/hello", "example/hello.git.evil"} {
		if code, b := ciAs(job(repo, "refs/heads/main")).do(t, "POST", "/api/v1/apps/team-a/ci-hello/deploy", deploy("registry.example.com/evil:1"), nil); code != 403 {
			t.Errorf("%s's job deploying example/hello's app: HTTP %d %s", repo, code, b)
		}
	}
	// Case differs, as GitHub's names may: the same repository.
	ciAs(job("Example/Hello", "refs/heads/main")).must(t, 202, "POST", "/api/v1/apps/team-a/ci-hello/deploy", deploy("registry.example.com/ci-hello:3"), nil)

	// An app that pins its repository's id grants nothing to a re-created
	// repository of the same name; unpinned again, the job deploys.
	pin := func(v string) {
		t.Helper()
		a := &platformv1.Application{}
		if err := kube.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "ci-hello"}, a); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(a.DeepCopy())
		if v == "" {
			delete(a.Annotations, platformv1.AnnotationCIRepositoryID)
		} else {
			a.SetAnnotations(map[string]string{platformv1.AnnotationCIRepositoryID: v})
		}
		if err := kube.Patch(context.Background(), a, patch); err != nil {
			t.Fatal(err)
		}
	}
	pin("999")
	// Until this replica's cache has the annotation, a deploy is still
	// accepted (and recorded): the probe's image is not an attacker's.
	eventually(t, 10*time.Second, "the pin refuses", func() error {
		if code, b := ciAs(job("example/hello", "refs/heads/main")).do(t, "POST", "/api/v1/apps/team-a/ci-hello/deploy", deploy("registry.example.com/ci-hello:pin-probe"), nil); code != 403 {
			return errorf("a repository of another id: HTTP %d %s", code, b)
		}
		return nil
	})
	pin("424242")
	eventually(t, 10*time.Second, "the right id deploys", func() error {
		if code, b := ciAs(job("example/hello", "refs/heads/main")).do(t, "POST", "/api/v1/apps/team-a/ci-hello/deploy", deploy("registry.example.com/ci-hello:4"), nil); code != 202 {
			return errorf("the pinned id: HTTP %d %s", code, b)
		}
		return nil
	})

	// Nothing refused was recorded: the only CI tasks are the deploys above.
	rows, err := db.Pool.Query(context.Background(), "SELECT app, request::text FROM tasks WHERE actor LIKE 'ci:%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var app, req string
		if err := rows.Scan(&app, &req); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(req, "evil") {
			t.Errorf("a refused deploy was recorded on %s: %s", app, req)
		}
	}
}

func TestCIProductionOnlyFromDefaultBranchOrProtectedEnvironment(t *testing.T) {
	adminC := admin(t)
	ciApp(t, adminC, "team-c", "ci-prod", "https://github.com/Example/Shop.git", platformv1.EnvironmentProduction)
	const path = "/api/v1/apps/team-c/ci-prod/deploy"
	feature := job("example/shop", "refs/heads/feature")
	prTarget := job("example/shop", "refs/heads/main")
	prTarget["event_name"] = "pull_request_target"
	pr := job("example/shop", "refs/pull/7/merge")
	pr["event_name"] = "pull_request"
	prEnv := job("example/shop", "refs/pull/7/merge")
	prEnv["event_name"], prEnv["environment"] = "pull_request", "production"
	otherEnv := job("example/shop", "refs/heads/feature")
	otherEnv["environment"] = "staging"
	for name, c := range map[string]githubtest.Claims{"a feature branch": feature, "pull_request_target on main": prTarget,
		"a pull request": pr, "a pull request naming the environment": prEnv, "another environment": otherEnv} {
		code, b := ciAs(c).do(t, "POST", path, deploy("registry.example.com/evil:1"), nil)
		if code != 403 || !strings.Contains(b, "refs/heads/main") {
			t.Errorf("production from %s: HTTP %d, want 403 naming the default branch: %s", name, code, b)
		}
	}
	var task store.Task
	ciAs(job("example/shop", "refs/heads/main")).must(t, 202, "POST", path, deploy("registry.example.com/ci-prod:2"), &task)
	waitTask(t, adminC, task.ID, store.TaskDone)
	protected := job("example/shop", "refs/heads/release")
	protected["environment"] = "production"
	ciAs(protected).must(t, 202, "POST", path, deploy("registry.example.com/ci-prod:3"), nil)
}

func TestCIRefusesForgedTokens(t *testing.T) {
	adminC := admin(t)
	ciApp(t, adminC, "team-a", "ci-forged", "github.com/example/forged", platformv1.EnvironmentStaging)
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other := githubtest.Start()
	defer other.Close()
	good := func() githubtest.Claims { return job("example/forged", "refs/heads/main") }
	wrongAud, wrongIss, expired := good(), good(), good()
	wrongAud["aud"] = "sts.amazonaws.com"
	wrongIss["iss"] = "https://token.actions.githubusercontent.com"
	expired["exp"], expired["iat"], expired["nbf"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-2*time.Hour).Unix()
	noRepo := good()
	delete(noRepo, "repository")
	badRepo := good()
	badRepo["repository"] = "example/forged/../x"
	forged := map[string]string{
		"wrong audience":         ghIssuer.Mint(wrongAud),
		"wrong issuer claim":     ghIssuer.Mint(wrongIss),
		"expired":                ghIssuer.Mint(expired),
		"a stranger's key":       githubtest.SignRS256(stranger, ghIssuer.KeyID, good()),
		"another issuer":         other.Mint(other.Job("example/forged", "refs/heads/main", ciAudience)),
		"alg none":               githubtest.Unsigned(good()),
		"no repository claim":    ghIssuer.Mint(noRepo),
		"a malformed repository": ghIssuer.Mint(badRepo),
		"garbage":                "a.b.c",
	}
	for name, tok := range forged {
		c := &caller{base: apiA.URL, token: tok}
		if code, b := c.do(t, "POST", "/api/v1/apps/team-a/ci-forged/deploy", deploy("registry.example.com/evil:1"), nil); code != 401 {
			t.Errorf("%s: HTTP %d, want 401: %s", name, code, b)
		}
	}
	// The good token, for contrast, is accepted.
	ciAs(good()).must(t, 202, "POST", "/api/v1/apps/team-a/ci-forged/deploy", deploy("registry.example.com/ci-forged:2"), nil)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
