package platformapi_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/cli"
)

// `plattr deploy` in a GitHub Actions job: no kubeconfig (KUBECONFIG
// points nowhere), only the job's ACTIONS_ID_TOKEN_* variables and
// PLATTR_API_URL. The runtime endpoint is githubtest's fake, which follows
// GitHub's documented API (GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...,
// "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN", {"value": jwt}).
// Before keyless CI the CLI knew only the cluster: "no cluster to talk
// to ... set --kubeconfig or KUBECONFIG".
func TestCICLIDeploysKeylessThroughTheAPI(t *testing.T) {
	adminC := admin(t)
	ciApp(t, adminC, "team-a", "ci-cli", "github.com/example/cli", platformv1.EnvironmentStaging)
	rt := ghIssuer.StartRuntime(job("example/cli", "refs/heads/main"))
	defer rt.Close()
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	t.Setenv("PLATTR_API_URL", apiA.URL)
	t.Setenv("PLATTR_TOKEN", "")
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_URL", rt.RequestURL())
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", rt.RequestToken)
	t.Chdir(t.TempDir())

	run := func(args ...string) (string, error) {
		root := cli.NewRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		err := root.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := run("deploy", "--app", "ci-cli", "-n", "team-a", "--image", "registry.example.com/ci-cli:2", "--wait", "--timeout", "60s")
	if err != nil {
		t.Fatalf("plattr deploy: %v\n%s", err, out)
	}
	t.Logf("plattr deploy in the job:\n%s", out)
	if !strings.Contains(out, "ci:github:example/cli@refs/heads/main") || !strings.Contains(out, "OIDC token") {
		t.Errorf("the deploy was not the job's: %s", out)
	}
	if aud := rt.Audiences(); len(aud) == 0 || aud[0] != ciAudience {
		t.Errorf("the CLI asked GitHub for audiences %v, want %q", aud, ciAudience)
	}
	live := &platformv1.Application{}
	if err := kube.Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "ci-cli"}, live); err != nil || live.Spec.ImageRef != "registry.example.com/ci-cli:2" {
		t.Fatalf("after plattr deploy: %v, image %q", err, live.Spec.ImageRef)
	}
	var tasks []struct{ Actor, Operation string }
	adminC.must(t, 200, "GET", "/api/v1/apps/team-a/ci-cli/tasks", nil, &tasks)
	if len(tasks) == 0 || tasks[0].Actor != "ci:github:example/cli@refs/heads/main" || tasks[0].Operation != "Upgrade" {
		t.Errorf("the history: %+v", tasks)
	}
	// The same job may not deploy an app of another repository: the API's
	// refusal reaches the job's log.
	ciApp(t, adminC, "team-a", "ci-cli-other", "github.com/example/other-cli", platformv1.EnvironmentStaging)
	if out, err := run("deploy", "--app", "ci-cli-other", "-n", "team-a", "--image", "registry.example.com/evil:1"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("deploying another repository's app: %v\n%s", err, out)
	}
	// Without the runtime's token there is no credential: a clear error,
	// not a fallback to a kubeconfig.
	t.Setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
	if _, err := run("deploy", "--app", "ci-cli", "-n", "team-a", "--image", "x:1"); err == nil || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("without a token: %v", err)
	}
}
