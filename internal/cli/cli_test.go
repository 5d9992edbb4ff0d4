package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rhysd/actionlint"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/cli"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/testenv"
)

func k8s(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// inDir runs the rest of the test in a new directory.
func inDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(old) })
	return dir
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %v", what, err)
}

func must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := plattr(t, args...)
	if err != nil {
		t.Fatalf("plattr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// The developer's loop: init → deploy --wait → status → env set → preview
// create → preview delete, against the real control plane and operator.
func TestTheDevelopersLoop(t *testing.T) {
	dir := inDir(t)
	ctx := context.Background()
	must(t, "init", "--name", "loop", "--framework", "docker", "--repository", "github.com/acme/loop", "--database", "--yes")
	for _, f := range []string{"plattr.yaml", ".github/workflows/plattr-deploy.yml", ".github/workflows/plattr-preview.yml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("init did not write %s", f)
		}
	}
	if _, err := plattr(t, "init", "--name", "loop", "--yes"); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("init over existing files: %v, want a refusal naming --force", err)
	}

	// The staging namespace is kept by the operator; plattr.yaml says staging.
	eventually(t, time.Minute, "namespace staging", func() error {
		return k8s(t).Get(ctx, client.ObjectKey{Name: "staging"}, &corev1.Namespace{})
	})
	out := must(t, "deploy", "--image", "registry.example.com/loop:1", "--wait", "--timeout", "90s")
	if !strings.Contains(out, "application staging/loop applied") || !strings.Contains(out, "loop is Running at https://loop.staging.apps.cli.test") {
		t.Fatalf("deploy output:\n%s", out)
	}

	var st struct {
		Phase    string `json:"phase"`
		URL      string `json:"url"`
		Replicas struct {
			Desired int32 `json:"desired"`
		} `json:"replicas"`
		Conditions []struct{ Type, Status string } `json:"conditions"`
	}
	if err := json.Unmarshal([]byte(must(t, "status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Phase != "Running" || st.URL == "" || len(st.Conditions) < 6 || st.Replicas.Desired < 1 {
		t.Errorf("status -o json: %+v", st)
	}
	if out := must(t, "status", "-o", "yaml"); !strings.Contains(out, "phase: Running") {
		t.Errorf("status -o yaml:\n%s", out)
	}

	must(t, "env", "set", "GREETING=hello", "LOG_LEVEL=debug")
	eventually(t, time.Minute, "GREETING in the Deployment", func() error {
		env := deploymentEnv(t, "staging", "loop")
		if env["GREETING"] != "hello" || env["LOG_LEVEL"] != "debug" {
			return fmt.Errorf("env %v", env)
		}
		return nil
	})
	if out := must(t, "env", "list"); !strings.Contains(out, "GREETING") || !strings.Contains(out, "hello") {
		t.Errorf("env list:\n%s", out)
	}
	must(t, "env", "unset", "LOG_LEVEL")
	eventually(t, time.Minute, "LOG_LEVEL gone from the Deployment", func() error {
		if _, ok := deploymentEnv(t, "staging", "loop")["LOG_LEVEL"]; ok {
			return fmt.Errorf("still there")
		}
		return nil
	})
	if _, err := plattr(t, "env", "unset", "NOPE"); err == nil || !strings.Contains(err.Error(), "NOPE") {
		t.Errorf("unsetting a variable that is not set: %v", err)
	}
	// A deploy keeps what `env set` added.
	must(t, "deploy", "--image", "registry.example.com/loop:2")
	if deploymentEnvEventually(t, "staging", "loop", "GREETING") != "hello" {
		t.Error("a deploy dropped a variable set with `plattr env set`")
	}

	// Logs through the API server (the simulated kubelet serves each
	// container a few fixed lines).
	if out := must(t, "logs"); !strings.Contains(out, "] simulated container log") || !strings.Contains(out, "[loop-") {
		t.Errorf("logs:\n%s", out)
	}
	if out := must(t, "logs", "--tail", "1"); strings.Contains(out, "simulated container log") || !strings.Contains(out, "GET / 200") {
		t.Errorf("logs --tail 1:\n%s", out)
	}

	start := time.Now()
	out = must(t, "preview", "create", "--pr", "12", "--image", "registry.example.com/loop:pr-12", "--wait", "--timeout", "90s")
	if !strings.Contains(out, "preview loop-pr-12 is Running at https://pr-12.loop.preview.apps.cli.test") {
		t.Fatalf("preview create:\n%s", out)
	}
	t.Logf("preview create → Running through the CLI: %s", time.Since(start).Round(time.Millisecond))
	if out := must(t, "preview", "list"); !strings.Contains(out, "12") || !strings.Contains(out, "Running") {
		t.Errorf("preview list:\n%s", out)
	}
	// The preview's own namespace, by resolveEnv.
	if out := must(t, "db", "url", "--env", "preview", "--pr", "12"); !strings.Contains(out, "preview_loop_pr12_app") {
		t.Errorf("db url of the preview: %s", out)
	}
	start = time.Now()
	must(t, "preview", "delete", "--pr", "12", "--wait", "--timeout", "2m")
	t.Logf("preview delete → gone through the CLI: %s", time.Since(start).Round(time.Millisecond))
	if _, err := plattr(t, "preview", "delete", "--pr", "12"); err == nil || !strings.Contains(err.Error(), "no preview of PR 12") {
		t.Errorf("deleting it again: %v", err)
	}
}

func deploymentEnv(t *testing.T, ns, name string) map[string]string {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := k8s(t).Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "app" {
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
		}
	}
	return env
}

func deploymentEnvEventually(t *testing.T, ns, name, key string) string {
	t.Helper()
	time.Sleep(time.Second)
	return deploymentEnv(t, ns, name)[key]
}

// The generated workflows pass a real linter.
func TestInitWorkflowsPassActionlint(t *testing.T) {
	dir := inDir(t)
	must(t, "init", "--name", "linted", "--storage", "--auth", "--yes")
	linter, err := actionlint.NewLinter(os.Stderr, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"plattr-deploy.yml", "plattr-preview.yml"} {
		path := filepath.Join(dir, ".github", "workflows", f)
		errs, err := linter.LintFile(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			t.Errorf("%s: %s", f, e.Error())
		}
		// Keyless: the job's OIDC token, no cluster credential.
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "id-token: write") || !strings.Contains(string(b), "vars.PLATTR_API_URL") {
			t.Errorf("%s does not deploy keyless:\n%s", f, b)
		}
		if strings.Contains(strings.ToLower(string(b)), "kubeconfig") {
			t.Errorf("%s still uses a kubeconfig:\n%s", f, b)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "plattr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: linted", "storage:", "auth:", "environment: staging"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("plattr.yaml lacks %q:\n%s", want, b)
		}
	}
}

// Every command's --help shows an example.
func TestEveryCommandHasAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && c.Name() != "plattr" && c.Example == "" {
			t.Errorf("plattr %s has no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cli.NewRoot())
}

// `plattr run -- env` gets exactly what a pod of the app gets, and its
// DATABASE_URL works.
func TestRunGivesTheProcessThePodsEnvironment(t *testing.T) {
	ns := newNamespace(t)
	must(t, "deploy", "-n", ns, "-f", manifest(t, fmt.Sprintf(appYAML, "runner", `  envVars:
    - name: GREETING
      value: hello world
    - name: TOKEN
      secretKeyRef: {name: tokens, key: t}
`)))
	ctx := context.Background()
	if err := k8s(t).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tokens"}, Data: map[string][]byte{"t": []byte("s3cr3t")}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "runner Running", func() error {
		app := &platformv1.Application{}
		if err := k8s(t).Get(ctx, client.ObjectKey{Namespace: ns, Name: "runner"}, app); err != nil {
			return err
		}
		if app.Status.Phase != platformv1.PhaseRunning {
			return fmt.Errorf("phase %s", app.Status.Phase)
		}
		return nil
	})
	out := must(t, "run", "-n", ns, "--app", "runner", "--", "env")
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	want := resolvedPodEnv(t, ns, "runner")
	if len(want) < 10 {
		t.Fatalf("the pod's environment is suspiciously small: %v", want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q in the process, %q in the pod", k, got[k], v)
		}
	}
	conn, err := pgx.Connect(ctx, got["DATABASE_URL"])
	if err != nil {
		t.Fatalf("DATABASE_URL from plattr run: %v", err)
	}
	defer conn.Close(ctx)
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil || schema != "uat_runner" {
		t.Errorf("current schema %q (%v)", schema, err)
	}

	// dev env --app prints the same as export lines.
	exports := must(t, "dev", "env", "-n", ns, "--app", "runner")
	for k := range want {
		if !strings.Contains(exports, "export "+k+"=") {
			t.Errorf("dev env --app lacks %s", k)
		}
	}
	if _, err := plattr(t, "run", "-n", ns, "--app", "runner", "--", "false"); err == nil || !strings.Contains(err.Error(), "exited with code 1") {
		t.Errorf("a failing command: %v", err)
	}
}

// resolvedPodEnv resolves the Deployment's app container independently of
// the CLI: envFrom, then env, with Secret references read.
func resolvedPodEnv(t *testing.T, ns, name string) map[string]string {
	t.Helper()
	ctx := context.Background()
	c := k8s(t)
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, ct := range d.Spec.Template.Spec.Containers {
		if ct.Name != "app" {
			continue
		}
		for _, from := range ct.EnvFrom {
			if from.SecretRef != nil {
				s := &corev1.Secret{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.SecretRef.Name}, s); err != nil {
					t.Fatal(err)
				}
				for k, v := range s.Data {
					env[k] = string(v)
				}
			}
			if from.ConfigMapRef != nil {
				cm := &corev1.ConfigMap{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.ConfigMapRef.Name}, cm); err != nil {
					t.Fatal(err)
				}
				for k, v := range cm.Data {
					env[k] = v
				}
			}
		}
		for _, e := range ct.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				s := &corev1.Secret{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: e.ValueFrom.SecretKeyRef.Name}, s); err != nil {
					t.Fatal(err)
				}
				env[e.Name] = string(s.Data[e.ValueFrom.SecretKeyRef.Key])
				continue
			}
			env[e.Name] = e.Value
		}
	}
	return env
}

func newNamespace(t *testing.T) string {
	t.Helper()
	name := "cli-" + testenv.RandomString(6)
	if err := k8s(t).Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// `db migrate` runs each file once, in order, and stops at the first that
// fails without recording it.
func TestDBMigrateIsIdempotentAndStopsAtTheFirstFailure(t *testing.T) {
	ns := newNamespace(t)
	must(t, "deploy", "-n", ns, "-f", manifest(t, fmt.Sprintf(appYAML, "migrating", "")), "--wait", "--timeout", "90s")
	dir := inDir(t)
	mig := filepath.Join(dir, "db", "migrations")
	if err := os.MkdirAll(mig, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, sql string) {
		if err := os.WriteFile(filepath.Join(mig, name), []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("001_items.sql", "CREATE TABLE items (id serial PRIMARY KEY, name text);")
	write("002_seed.sql", "INSERT INTO items (name) VALUES ('first');")
	out := must(t, "db", "migrate", "-n", ns, "--app", "migrating")
	if !strings.Contains(out, "applied 001_items.sql") || !strings.Contains(out, "applied 002_seed.sql") {
		t.Fatalf("first run:\n%s", out)
	}
	if out := must(t, "db", "migrate", "-n", ns, "--app", "migrating"); !strings.Contains(out, "up to date") {
		t.Errorf("second run:\n%s", out)
	}
	write("003_broken.sql", "INSERT INTO items (name) VALUES ('half'); INSERT INTO nowhere VALUES (1);")
	write("004_later.sql", "INSERT INTO items (name) VALUES ('later');")
	_, err := plattr(t, "db", "migrate", "-n", ns, "--app", "migrating")
	if err == nil || !strings.Contains(err.Error(), "003_broken.sql failed") {
		t.Fatalf("broken migration: %v", err)
	}
	url := strings.TrimSpace(must(t, "db", "url", "-n", ns, "--app", "migrating"))
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var names string
	if err := conn.QueryRow(context.Background(), "SELECT string_agg(name, ',' ORDER BY id) FROM items").Scan(&names); err != nil || names != "first" {
		t.Errorf("items %q (%v): the failed file's first statement or a later file ran", names, err)
	}
	var versions []string
	rows, err := conn.Query(context.Background(), "SELECT version FROM plattr_schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || !slices.Equal(versions, []string{"001_items.sql", "002_seed.sql"}) {
		t.Errorf("recorded %v (%v)", versions, err)
	}
}

// `plattr doctor` names the broken part, one at a time.
func TestDoctorNamesWhatIsBroken(t *testing.T) {
	ns := newNamespace(t)
	must(t, "deploy", "-n", ns, "-f", manifest(t, fmt.Sprintf(appYAML, "patient", "")), "--wait", "--timeout", "90s")
	eventually(t, time.Minute, "a healthy report", func() error {
		out, err := plattr(t, "doctor", "-n", ns, "--app", "patient")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	})
	ctx := context.Background()
	expect := func(what string, wants ...string) {
		t.Helper()
		out, err := plattr(t, "doctor", "-n", ns, "--app", "patient")
		if err == nil {
			t.Fatalf("%s: doctor found nothing:\n%s", what, out)
		}
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the report lacks %q:\n%s", what, w, out)
			}
		}
	}

	// The anon role's grant revoked.
	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "REVOKE uat_patient_anon FROM uat_patient_app"); err != nil {
		t.Fatal(err)
	}
	expect("grants revoked", "FAIL  PostgREST's role uat_patient_anon", "GRANT uat_patient_anon TO uat_patient_app")
	if _, err := admin.Exec(ctx, "GRANT uat_patient_anon TO uat_patient_app"); err != nil {
		t.Fatal(err)
	}

	// The operator stopped: its Lease is released.
	stopOperator()
	t.Cleanup(startOperator)
	expect("operator stopped", "FAIL  the operator")

	// The Secret deleted (the operator is stopped, so it stays gone).
	if err := k8s(t).Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "patient-db"}}); err != nil {
		t.Fatal(err)
	}
	expect("Secret deleted", "FAIL  Secret patient-db")
	startOperator()
	eventually(t, time.Minute, "the Secret back", func() error {
		return k8s(t).Get(ctx, client.ObjectKey{Namespace: ns, Name: "patient-db"}, &corev1.Secret{})
	})

	// PostgreSQL stopped.
	if err := pg.Server.Stop(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pg.Server.Start(context.Background()) }()
	expect("PostgreSQL stopped", "FAIL  the database login")
}
