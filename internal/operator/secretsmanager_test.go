package operator_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/awssecrets/awsfake"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/testenv"
)

// TestSecretsManagerAdminCredentials runs the operator with DB_SECRET_ARN
// and DB_HOST against the Secrets Manager fake: it provisions an app's
// database with the secret's credentials, reads the secret once (not per
// connection), and after a rotation — new password in PostgreSQL and in the
// secret, the operator's connections cut as a failover would — it reads the
// secret again and provisions the next app, without a restart.
func TestSecretsManagerAdminCredentials(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	super, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	exec := func(sql string) {
		t.Helper()
		if _, err := super.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE ROLE sm_admin LOGIN SUPERUSER PASSWORD 'first-password'`)

	sm := awsfake.Start("eu-west-1", "AKIDFAKE")
	defer sm.Close()
	value := func(password string) string {
		b, _ := json.Marshal(map[string]any{"username": "sm_admin", "password": password, "engine": "postgres",
			"port": pg.Port, "dbname": "postgres"})
		return string(b)
	}
	arn := sm.Create("plattr/db-admin", value("first-password"))
	// The SDK's default chain, as on a cluster without IRSA; the endpoint
	// override is the one LocalStack users set.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-key")
	t.Setenv("AWS_ENDPOINT_URL", sm.URL)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")

	env := map[string]string{
		"DB_SECRET_ARN": arn, "DB_HOST": "127.0.0.1", "DB_SSLMODE": "disable",
		// An hour: a re-read within the test can only come from the
		// database refusing the cached password.
		"DB_SECRET_REFRESH_INTERVAL": "1h",
		"BASE_DOMAIN":                "apps.test", "METRICS_ADDR": "0", "ENVIRONMENT_NAMESPACES": "none",
	}
	cfg, err := config.Parse(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DBSecret.Region != "" {
		t.Fatalf("region %q: AWS_REGION is unset, the ARN's region should be used", cfg.DBSecret.Region)
	}

	c, err := client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := "sm-" + testenv.RandomString(5)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	opCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- operator.Run(opCtx, cfg, cluster.Config, operator.Options{Restartable: true}) }()
	defer func() { stop(); <-done }()

	running := func(name string) {
		t.Helper()
		app := &platformv1.Application{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: platformv1.ApplicationSpec{
				Repository: "github.com/example/" + name, Framework: "docker", Environment: platformv1.EnvironmentStaging,
				ImageRef: "registry.example.com/" + name + ":1", Port: 8080,
				Database: &platformv1.DatabaseSpec{Enabled: true},
			},
		}
		if err := c.Create(ctx, app); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			got := &platformv1.Application{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(app), got); err == nil && got.Status.Phase == platformv1.PhaseRunning {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not Running: phase %q, conditions %+v", name, got.Status.Phase, got.Status.Conditions)
			}
			time.Sleep(100 * time.Millisecond)
		}
		var n int
		if err := super.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%' || $1 || '%'", strings.ReplaceAll(name, "-", "_")).Scan(&n); err != nil || n == 0 {
			t.Fatalf("no schema for %s in PostgreSQL (%d, %v)", name, n, err)
		}
	}

	running("first")
	if n := sm.Calls("GetSecretValue"); n != 1 {
		t.Fatalf("GetSecretValue called %d times before any rotation; want 1 (read at start, then cached)", n)
	}

	// Rotate as Secrets Manager's single-user rotation does: the database
	// first, then the secret's current version. Open sessions survive a
	// password change, so cut them, as a failover or restart would.
	exec(`ALTER ROLE sm_admin PASSWORD 'second-password'`)
	sm.Put(arn, value("second-password"))
	exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'sm_admin'`)

	running("second")
	if n := sm.Calls("GetSecretValue"); n < 2 {
		t.Fatalf("GetSecretValue called %d times: the rotated secret was not read again", n)
	}
	t.Logf("GetSecretValue calls: %d", sm.Calls("GetSecretValue"))
}

// TestSecretsManagerMissingSecret: a wrong ARN stops the operator at start
// with an error naming DB_SECRET_ARN and what to check.
func TestSecretsManagerMissingSecret(t *testing.T) {
	sm := awsfake.Start("us-east-1", "AKIDFAKE")
	defer sm.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-key")
	t.Setenv("AWS_ENDPOINT_URL", sm.URL)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	cfg := config.Operator{BaseDomain: "apps.test", MetricsAddr: "0", DBHost: "127.0.0.1",
		DBSecret: config.DBSecret{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf", SSLMode: "disable"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := operator.Run(ctx, cfg, cluster.Config, operator.Options{Restartable: true})
	if err == nil || !strings.Contains(err.Error(), "DB_SECRET_ARN") || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("err = %v; want one naming DB_SECRET_ARN and the service's reason", err)
	}
	t.Log(err)
}
