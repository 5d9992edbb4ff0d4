package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/cli"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/testenv"
)

var (
	cluster *testenv.Cluster
	pg      *testenv.Postgres
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var err error
	cluster, pg, err = testenv.StartClusterAndPostgres(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cancel()
	startOperator()
	code := m.Run()
	stopOperator()
	pg.Stop()
	cluster.Stop()
	os.Exit(code)
}

var (
	opStop func()
	opDone chan error
)

// startOperator runs the operator in this process, with leader election
// (so `plattr doctor` finds its Lease) and the staging environment
// namespace (so plattr.yaml deploys there).
func startOperator() {
	if opStop != nil {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	opStop, opDone = stop, make(chan error, 1)
	go func() {
		opDone <- operator.Run(ctx, config.Operator{
			DBAdminURL: pg.URL(), BaseDomain: "apps.cli.test", IngressClass: "nginx", ClusterIssuer: "x",
			MetricsAddr: "0", MaxConcurrentReconciles: 2, KubeAPIQPS: 50, KubeAPIBurst: 100,
			LeaderElection: true, LeaseNamespace: "default",
			EnvironmentNamespaces: []config.EnvironmentNamespace{{Namespace: "staging", Environment: "staging"}},
		}, cluster.Config, operator.Options{Restartable: true})
	}()
}

func stopOperator() {
	if opStop != nil {
		opStop()
		<-opDone
		opStop = nil
	}
}

// plattr runs the CLI in-process and returns its output and error.
func plattr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := cli.NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"--kubeconfig", cluster.Plane.Kubeconfig()}, args...))
	err := root.Execute()
	return out.String(), err
}

func manifest(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const appYAML = `apiVersion: platform.internal/v1alpha1
kind: Application
metadata:
  name: %s
spec:
  repository: github.com/example/%[1]s
  framework: docker
  environment: uat
  imageRef: registry.example.com/%[1]s:1
  database:
    enabled: true
%s`

func TestDeployWaitFollowsConditionsToRunning(t *testing.T) {
	out, err := plattr(t, "deploy", "-f", manifest(t, fmt.Sprintf(appYAML, "happy", "")), "--wait", "--timeout", "90s")
	if err != nil {
		t.Fatalf("deploy --wait: %v\n%s", err, out)
	}
	for _, want := range []string{"DatabaseReady", "DeploymentReady", "phase Running", "happy is Running at https://happy.uat.apps.cli.test"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	status, err := plattr(t, "status", "happy")
	if err != nil || !strings.Contains(status, "Ready") || !strings.Contains(status, "Running") {
		t.Errorf("status: %v\n%s", err, status)
	}
}

func TestDeployWaitFailsWhenTheAppFails(t *testing.T) {
	extra := `  envVars:
    - name: TOKEN
      secretKeyRef: {name: missing, key: token}
`
	out, err := plattr(t, "deploy", "-f", manifest(t, fmt.Sprintf(appYAML, "doomed", extra)), "--wait", "--timeout", "90s")
	if err == nil {
		t.Fatalf("deploy --wait succeeded for a failing app:\n%s", out)
	}
	if !strings.Contains(err.Error(), "doomed failed") || !strings.Contains(err.Error(), "spec.envVars[0]") {
		t.Errorf("error %q should say the app failed and name spec.envVars[0]", err)
	}
}

func TestDeployRejectsAMisspeltField(t *testing.T) {
	body := strings.Replace(fmt.Sprintf(appYAML, "typo", ""), "imageRef", "imagRef", 1)
	_, err := plattr(t, "deploy", "-f", manifest(t, body))
	if err == nil || !strings.Contains(err.Error(), "imagRef") {
		t.Fatalf("err = %v, want it to name the unknown field imagRef", err)
	}
}

func TestDeployReportsAdmissionErrorsWithTheField(t *testing.T) {
	extra := `  scaling: {min: 9, max: 3}
`
	_, err := plattr(t, "deploy", "-f", manifest(t, fmt.Sprintf(appYAML, "upside", extra)))
	if err == nil || !strings.Contains(err.Error(), "scaling.min must be less than or equal to scaling.max") {
		t.Fatalf("err = %v", err)
	}
}
