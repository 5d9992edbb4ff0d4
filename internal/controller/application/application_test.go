package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/jackc/pgx/v5"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/workload"
	"github.com/plattr/plattr/internal/naming"
)

const runningTimeout = 60 * time.Second

func TestSeedExampleReachesRunningWithEveryCapability(t *testing.T) {
	startOperator(t)
	// Both manifests apply unchanged: the seed's Application and the
	// placeholder credentials of its identity providers.
	providers := loadExampleSecret(t, "auth-providers-secret.yaml")
	if err := k8s.Create(context.Background(), providers); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	app := loadExample(t, "seed-app.yaml")
	create(t, app)
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), app) })

	got := waitPhase(t, app.Namespace, app.Name, platformv1.PhaseRunning, runningTimeout)
	for _, typ := range platformv1.ConditionTypes {
		if c := condition(got, typ); c.Status != metav1.ConditionTrue {
			t.Errorf("%s = %s/%s: %s", typ, c.Status, c.Reason, c.Message)
		}
	}
	cm := configMapData(t, app.Namespace, "my-frontend-storage")
	if cm["S3_BUCKET_UPLOADS"] != "plattr-prod-my-frontend-uploads" {
		t.Errorf("storage ConfigMap = %v", cm)
	}
	auth := configMapData(t, app.Namespace, "my-frontend-auth")
	if auth["AUTH_ISSUER_URL"] != dex.Issuer() || auth["AUTH_CLIENT_ID"] != "prod-my-frontend" {
		t.Errorf("auth ConfigMap = %v", auth)
	}
	// Production: schema and roles carry the prod prefix.
	data := secretData(t, app.Namespace, "my-frontend-db")
	if string(data["DB_SCHEMA"]) != "prod_my_frontend" || string(data["DB_USER"]) != "prod_my_frontend_app" {
		t.Errorf("schema %q user %q, want prod_my_frontend and prod_my_frontend_app", data["DB_SCHEMA"], data["DB_USER"])
	}
	if got.Status.URL != "https://my-frontend."+baseDomain {
		t.Errorf("URL = %q", got.Status.URL)
	}
}

func TestDatabaseAppReachesRunning(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	app := newApp(ns, "shop", func(a *platformv1.Application) {
		a.Spec.EnvVars = []platformv1.EnvVar{{Name: "GREETING", Value: "hello"}}
	})
	applied := time.Now()
	create(t, app)
	got := waitPhase(t, ns, "shop", platformv1.PhaseRunning, runningTimeout)
	t.Logf("apply to Running: %s", time.Since(applied).Round(time.Millisecond))

	for _, typ := range platformv1.ConditionTypes {
		if c := condition(got, typ); c.Status != metav1.ConditionTrue {
			t.Errorf("condition %s = %s (%s: %s), want True", typ, c.Status, c.Reason, c.Message)
		}
	}
	if got.Status.ObservedGeneration != got.Generation {
		t.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
	}
	if got.Status.URL != "https://shop.staging."+baseDomain {
		t.Errorf("URL = %q", got.Status.URL)
	}

	ctx := context.Background()
	d := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, d); err != nil {
		t.Fatal(err)
	}
	containers := map[string]corev1.Container{}
	for _, c := range d.Spec.Template.Spec.Containers {
		containers[c.Name] = c
	}
	if containers["app"].Image != app.Spec.ImageRef {
		t.Errorf("app image %q, want %q", containers["app"].Image, app.Spec.ImageRef)
	}
	env := map[string]string{}
	for _, e := range containers["postgrest"].Env {
		env[e.Name] = e.Value
	}
	data := secretData(t, ns, "shop-db")
	if env["PGRST_DB_SCHEMAS"] != string(data["DB_SCHEMA"]) || env["PGRST_DB_SCHEMAS"] != "staging_shop" {
		t.Errorf("PostgREST schema %q, database schema %q: they must be the same", env["PGRST_DB_SCHEMAS"], data["DB_SCHEMA"])
	}
	// Its own notification channel, told to the app too (defect 8).
	if env["PGRST_DB_CHANNEL"] != "pgrst_staging_shop" || string(data[platformv1.KeyDBPostgRESTChannel]) != env["PGRST_DB_CHANNEL"] {
		t.Errorf("PostgREST channel %q, app told %q; want pgrst_staging_shop for both", env["PGRST_DB_CHANNEL"], data[platformv1.KeyDBPostgRESTChannel])
	}
	if containers["postgrest"].Image != workload.PostgRESTImage {
		t.Errorf("postgrest image %q", containers["postgrest"].Image)
	}
	found := false
	for _, e := range containers["app"].Env {
		found = found || (e.Name == "GREETING" && e.Value == "hello")
	}
	if !found {
		t.Errorf("spec.envVars not in the app container: %v", containers["app"].Env)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 || d.Status.AvailableReplicas != 2 {
		t.Errorf("replicas %v, available %d: want scaling.min (2) when Running", d.Spec.Replicas, d.Status.AvailableReplicas)
	}
	if d.Spec.Template.Annotations[platformv1.AnnotationConfigHash] == "" {
		t.Error("pod template has no config hash annotation")
	}
	for _, obj := range []client.Object{&corev1.Service{}, &corev1.ServiceAccount{}, &networkingv1.Ingress{}, &autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{}} {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, obj); err != nil {
			t.Errorf("%T: %v", obj, err)
			continue
		}
		if obj.GetLabels()[platformv1.LabelManagedBy] != "plattr" || metav1.GetControllerOf(obj) == nil {
			t.Errorf("%T lacks labels or owner reference: %v", obj, obj.GetLabels())
		}
	}
	ing := &networkingv1.Ingress{}
	_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, ing)
	if ing.Spec.Rules[0].Host != "shop.staging."+baseDomain || ing.Spec.TLS[0].SecretName != "shop-tls" {
		t.Errorf("ingress host %q tls %q", ing.Spec.Rules[0].Host, ing.Spec.TLS[0].SecretName)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	_ = k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, hpa)
	if *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 20 || *hpa.Spec.Behavior.ScaleDown.StabilizationWindowSeconds != 300 {
		t.Errorf("HPA min %d max %d", *hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
}

// connect logs in with an app's DATABASE_URL.
func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("logging in with DATABASE_URL: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestDatabaseURLWorksAndAppsAreIsolated(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "alpha"))
	create(t, newApp(ns, "beta"))
	waitPhase(t, ns, "alpha", platformv1.PhaseRunning, runningTimeout)
	waitPhase(t, ns, "beta", platformv1.PhaseRunning, runningTimeout)
	ctx := context.Background()

	alpha := connect(t, string(secretData(t, ns, "alpha-db")["DATABASE_URL"]))
	if _, err := alpha.Exec(ctx, "CREATE TABLE notes (id serial PRIMARY KEY, body text)"); err != nil {
		t.Fatalf("the app cannot create a table in its schema: %v", err)
	}
	if _, err := alpha.Exec(ctx, "INSERT INTO notes (body) VALUES ('secret of alpha')"); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := alpha.QueryRow(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'notes'").Scan(&schema); err != nil || schema != "staging_alpha" {
		t.Fatalf("table landed in schema %q (%v), want staging_alpha", schema, err)
	}

	beta := connect(t, string(secretData(t, ns, "beta-db")["DATABASE_URL"]))
	_, err := beta.Exec(ctx, "SELECT * FROM staging_alpha.notes")
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("beta read alpha's table: err = %v, want permission denied", err)
	}
	if _, err := beta.Exec(ctx, "CREATE TABLE staging_alpha.intruder (x int)"); err == nil {
		t.Fatal("beta created a table in alpha's schema")
	}
	if _, err := beta.Exec(ctx, "CREATE TABLE public.intruder (x int)"); err == nil {
		t.Fatal("beta created a table in the public schema")
	}
}

func TestCredentialsAreStableAndRotateOnSecretDeletion(t *testing.T) {
	ns := runningApp(t, "ledger")
	ctx := context.Background()
	first := secretData(t, ns, "ledger-db")
	connect(t, string(first["DATABASE_URL"]))

	// A restart of the operator and a spec change keep the password.
	stopOperator()
	startOperator(t)
	setEnvVars(t, ns, "ledger", platformv1.EnvVar{Name: "FEATURE", Value: "on"})
	eventually(t, runningTimeout, "the spec change to be observed", func() error {
		got := getApp(t, ns, "ledger")
		if got.Status.ObservedGeneration != got.Generation || got.Status.Phase != platformv1.PhaseRunning {
			return fmt.Errorf("observed %d of %d, phase %s", got.Status.ObservedGeneration, got.Generation, got.Status.Phase)
		}
		return nil
	})
	if after := secretData(t, ns, "ledger-db"); string(after["DB_PASSWORD"]) != string(first["DB_PASSWORD"]) {
		t.Fatal("the password changed on restart or spec change")
	}
	connect(t, string(first["DATABASE_URL"]))
	hashBefore := podTemplateHash(t, ns, "ledger")

	// Deleting the Secret rotates: the new password works, the old does not.
	if err := k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ledger-db"}}); err != nil {
		t.Fatal(err)
	}
	var rotated map[string][]byte
	eventually(t, runningTimeout, "a new Secret", func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ledger-db"}, s); err != nil {
			return err
		}
		if string(s.Data["DB_PASSWORD"]) == string(first["DB_PASSWORD"]) {
			return fmt.Errorf("still the old password")
		}
		rotated = s.Data
		return nil
	})
	connect(t, string(rotated["DATABASE_URL"]))
	if conn, err := pgx.Connect(ctx, string(first["DATABASE_URL"])); err == nil {
		_ = conn.Close(ctx)
		t.Fatal("the old password still logs in after rotation")
	}
	eventually(t, runningTimeout, "the pods to roll", func() error {
		if h := podTemplateHash(t, ns, "ledger"); h == hashBefore {
			return fmt.Errorf("config hash unchanged: %s", h)
		}
		return nil
	})
}

func podTemplateHash(t testing.TB, ns, name string) string {
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Annotations[platformv1.AnnotationConfigHash]
}

func TestNoOpReconcileMakesNoWrites(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	// Every capability: database, a public bucket, an OIDC client.
	create(t, newApp(ns, "quiet", func(a *platformv1.Application) {
		a.Spec.Storage = &platformv1.StorageSpec{Enabled: true, Buckets: []platformv1.BucketSpec{{Name: "pub", Public: true}}}
		a.Spec.Auth = &platformv1.AuthSpec{Enabled: true}
	}))
	waitPhase(t, ns, "quiet", platformv1.PhaseRunning, runningTimeout)
	// Let the last watch events of the rollout drain.
	time.Sleep(2 * time.Second)
	mark := writes.mark()

	// Each annotation change is a watch event that triggers a full reconcile.
	for i := range 3 {
		update(t, client.ObjectKey{Namespace: ns, Name: "quiet"}, &platformv1.Application{}, func(app *platformv1.Application) {
			app.SetAnnotations(map[string]string{"test/poke": fmt.Sprint(i)})
		})
		time.Sleep(700 * time.Millisecond)
	}
	time.Sleep(time.Second)
	var mine []string
	for k, n := range writes.since(mark) {
		// Dex's clients live in its own namespace.
		if strings.Contains(k, ns+"/") || strings.Contains(k, dexNamespace+"/") {
			mine = append(mine, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	if len(mine) > 0 {
		t.Fatalf("no-op reconciles wrote %d times: %v", len(mine), mine)
	}
}

func TestHandDeletedChildrenAreRestoredAndReplicasAreLeftToTheHPA(t *testing.T) {
	t.Parallel()
	ns := runningApp(t, "sturdy")
	ctx := context.Background()
	key := client.ObjectKey{Namespace: ns, Name: "sturdy"}

	d := &appsv1.Deployment{}
	if err := k8s.Get(ctx, key, d); err != nil {
		t.Fatal(err)
	}
	for _, mf := range d.ManagedFields {
		if mf.Manager == capability.FieldManager && strings.Contains(mf.FieldsV1.GetRawString(), `"f:replicas"`) {
			t.Fatalf("the operator manages spec.replicas although an HPA exists: %s", mf.FieldsV1.GetRawString())
		}
	}
	oldUID := d.UID
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sturdy"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sturdy"}},
	} {
		if err := k8s.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, runningTimeout, "the Deployment and Service to be restored", func() error {
		if err := k8s.Get(ctx, key, &corev1.Service{}); err != nil {
			return err
		}
		got := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, got); err != nil {
			return err
		}
		if got.UID == oldUID {
			return fmt.Errorf("not yet deleted")
		}
		return nil
	})
	waitPhase(t, ns, "sturdy", platformv1.PhaseRunning, runningTimeout)

	// Hand edits of fields Plattr owns are reverted: the image and a
	// selector that would cut the Service off from the pods.
	update(t, key, &appsv1.Deployment{}, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "evil.example.com/miner:latest"
		// What the HPA (or a person) sets as the replica count stays.
		d.Spec.Replicas = ptr.To[int32](4)
	})
	update(t, key, &corev1.Service{}, func(svc *corev1.Service) {
		svc.Spec.Selector[platformv1.LabelApp] = "someone-else"
	})
	eventually(t, runningTimeout, "the image and the selector to be restored", func() error {
		got := &corev1.Service{}
		if err := k8s.Get(ctx, key, got); err != nil {
			return err
		}
		if got.Spec.Selector[platformv1.LabelApp] != "sturdy" {
			return fmt.Errorf("selector %v", got.Spec.Selector)
		}
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, d); err != nil {
			return err
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/sturdy:1" {
			return fmt.Errorf("image %s", img)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 4 {
			return fmt.Errorf("replicas %v: the hand-set count must stay", d.Spec.Replicas)
		}
		return nil
	})
	events := &corev1.EventList{}
	_ = k8s.List(ctx, events, client.InNamespace(ns))
	restored := false
	for _, e := range events.Items {
		restored = restored || e.Reason == platformv1.EventRestored
	}
	if !restored {
		t.Error("no Restored event")
	}
}

func TestDeleteWhileOperatorStoppedStillCleansUp(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "gone"))
	create(t, newApp(ns, "kept", func(a *platformv1.Application) {
		a.Spec.Database.DeletionPolicy = platformv1.DeletionPolicyRetain
	}))
	waitPhase(t, ns, "gone", platformv1.PhaseRunning, runningTimeout)
	waitPhase(t, ns, "kept", platformv1.PhaseRunning, runningTimeout)
	ctx := context.Background()
	kept := connect(t, string(secretData(t, ns, "kept-db")["DATABASE_URL"]))
	if _, err := kept.Exec(ctx, "CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep me')"); err != nil {
		t.Fatal(err)
	}
	_ = kept.Close(ctx)

	stopOperator()
	for _, name := range []string{"gone", "kept"} {
		if err := k8s.Delete(ctx, getApp(t, ns, name)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	if app := getApp(t, ns, "gone"); app.DeletionTimestamp.IsZero() {
		t.Fatal("the app is not being deleted")
	}
	startOperator(t)
	// The operator runs again: waiting for it to finish the deletions runs
	// beside the parallel tests.
	t.Parallel()
	for _, name := range []string{"gone", "kept"} {
		eventually(t, runningTimeout, name+" to be deleted", func() error {
			err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &platformv1.Application{})
			if isNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there: %v", err)
		})
	}
	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var schemas, roles int
	_ = admin.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = 'staging_gone'").Scan(&schemas)
	_ = admin.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname IN ('staging_gone_app', 'staging_gone_anon')").Scan(&roles)
	if schemas != 0 || roles != 0 {
		t.Errorf("Delete policy left %d schemas and %d roles", schemas, roles)
	}
	var value string
	if err := admin.QueryRow(ctx, "SELECT v FROM staging_kept.precious").Scan(&value); err != nil || value != "keep me" {
		t.Errorf("Retain policy lost the data: %q %v", value, err)
	}
	var canLogin bool
	_ = admin.QueryRow(ctx, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'staging_kept_app'").Scan(&canLogin)
	if canLogin {
		t.Error("Retain policy left the role able to log in")
	}
}

func TestSameNameInTwoNamespacesConflictsInsteadOfSharingASchema(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns1, ns2 := newNamespace(t), newNamespace(t)
	create(t, newApp(ns1, "twin"))
	waitPhase(t, ns1, "twin", platformv1.PhaseRunning, runningTimeout)
	create(t, newApp(ns2, "twin"))
	eventually(t, runningTimeout, "a schema conflict", func() error {
		c := condition(getApp(t, ns2, "twin"), platformv1.ConditionDatabaseReady)
		if c.Reason != platformv1.ReasonSchemaConflict || !strings.Contains(c.Message, ns1+"/twin") {
			return fmt.Errorf("DatabaseReady %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
}

func TestFailedAfterThreeAttemptsThenRecovers(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "needy", func(a *platformv1.Application) {
		a.Spec.EnvVars = []platformv1.EnvVar{{Name: "API_KEY", SecretKeyRef: &platformv1.SecretKeySelector{Name: "vendor", Key: "key"}}}
	}))
	app := waitPhase(t, ns, "needy", platformv1.PhaseFailed, runningTimeout)
	c := condition(app, platformv1.ConditionDeploymentReady)
	if c.Reason != platformv1.ReasonSecretMissing || !strings.Contains(c.Message, "spec.envVars[0]") {
		t.Errorf("DeploymentReady %s: %s; want SecretMissing naming spec.envVars[0]", c.Reason, c.Message)
	}
	if app.Status.FailedAttempts < 3 {
		t.Errorf("failedAttempts = %d", app.Status.FailedAttempts)
	}
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vendor"}, StringData: map[string]string{"key": "k"}})
	waitPhase(t, ns, "needy", platformv1.PhaseRunning, runningTimeout)
}

func TestMissingImageKeepsTheAppPending(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "noimage", func(a *platformv1.Application) { a.Spec.ImageRef = "" }))
	app := waitPhase(t, ns, "noimage", platformv1.PhasePending, runningTimeout)
	if c := condition(app, platformv1.ConditionDeploymentReady); c.Reason != platformv1.ReasonImageMissing {
		t.Errorf("DeploymentReady reason %q", c.Reason)
	}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "noimage"}, &appsv1.Deployment{}); !isNotFound(err) {
		t.Errorf("a Deployment exists without an image (err %v): no silent fallback image", err)
	}
}

func TestInvalidSpecsAreRejectedNamingTheField(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	tests := []struct {
		name   string
		mutate func(*platformv1.Application)
		want   string
	}{
		{"min above max", func(a *platformv1.Application) {
			a.Spec.Scaling = &platformv1.ScalingSpec{Min: 5, Max: 2, TargetCPU: 70}
		}, "scaling.min must be less than or equal to scaling.max"},
		{"reserved env var", func(a *platformv1.Application) {
			a.Spec.EnvVars = []platformv1.EnvVar{{Name: "DATABASE_URL", Value: "x"}}
		}, "spec.envVars[0]"},
		{"LD_PRELOAD", func(a *platformv1.Application) {
			a.Spec.EnvVars = []platformv1.EnvVar{{Name: "LD_PRELOAD", Value: "x"}}
		}, "reserved"},
		{"unknown framework", func(a *platformv1.Application) { a.Spec.Framework = "cobol" }, "spec.framework"},
		{"unknown environment", func(a *platformv1.Application) { a.Spec.Environment = "prod" }, "spec.environment"},
		{"bad schema name", func(a *platformv1.Application) { a.Spec.Database.SchemaName = "Drop-Table" }, "spec.database.schemaName"},
		{"wildcard CORS origin", func(a *platformv1.Application) { a.Spec.CORS = &platformv1.CORSSpec{Origins: []string{"*"}} }, "spec.cors.origins[0]"},
		{"port taken by PostgREST", func(a *platformv1.Application) { a.Spec.Port = 3001 }, "spec.port"},
		// Regression (defect 9): PostgREST's admin port and two keys the
		// operator writes were accepted.
		{"PostgREST admin port", func(a *platformv1.Application) { a.Spec.Port = 3002 }, "spec.port"},
		{"AUTH_REDIRECT_URI", func(a *platformv1.Application) {
			a.Spec.EnvVars = []platformv1.EnvVar{{Name: "AUTH_REDIRECT_URI", Value: "x"}}
		}, "reserved"},
		{"S3_FORCE_PATH_STYLE", func(a *platformv1.Application) {
			a.Spec.EnvVars = []platformv1.EnvVar{{Name: "S3_FORCE_PATH_STYLE", Value: "x"}}
		}, "reserved"},
		{"name starting with a digit", func(a *platformv1.Application) { a.Name = "1app" }, "metadata.name must start with a letter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newApp(ns, "invalid", tt.mutate)
			err := k8s.Create(context.Background(), app)
			if err == nil {
				_ = k8s.Delete(context.Background(), app)
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestNamesAreValidAndQuotedEndToEnd(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	// A reserved word, digits and the longest allowed name.
	longName := "a" + strings.Repeat("-9", 19) + "z"
	for _, name := range []string{"select", "x1-2-3", longName} {
		create(t, newApp(ns, name))
	}
	for _, name := range []string{"select", "x1-2-3", longName} {
		waitPhase(t, ns, name, platformv1.PhaseRunning, runningTimeout)
		data := secretData(t, ns, naming.ObjectsFor(name).DatabaseSecret)
		conn := connect(t, string(data["DATABASE_URL"]))
		if _, err := conn.Exec(context.Background(), `CREATE TABLE "order" (id int)`); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDatabaseOutageIsReportedAndRecoversByItself(t *testing.T) {
	ns := runningApp(t, "weather")

	if err := pg.Kill(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	restart := func() {
		if !restarted {
			restarted = true
			if err := pg.Server.Start(context.Background()); err != nil {
				t.Fatalf("restarting PostgreSQL: %v", err)
			}
		}
	}
	t.Cleanup(restart)

	// A spec change makes the operator talk to PostgreSQL again.
	setEnvVars(t, ns, "weather", platformv1.EnvVar{Name: "MODE", Value: "storm"})
	eventually(t, runningTimeout, "the outage to be reported", func() error {
		got := getApp(t, ns, "weather")
		c := condition(got, platformv1.ConditionDatabaseReady)
		if c.Status != metav1.ConditionFalse || c.Reason != platformv1.ReasonDatabaseUnavailable {
			return fmt.Errorf("DatabaseReady %s %s", c.Status, c.Reason)
		}
		if got.Status.Phase == platformv1.PhaseRunning {
			return fmt.Errorf("still Running during the outage")
		}
		return nil
	})
	restart()
	waitPhase(t, ns, "weather", platformv1.PhaseRunning, runningTimeout)
	connect(t, string(secretData(t, ns, "weather-db")["DATABASE_URL"]))
}

func TestPreviewEnvironmentSchema(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ctx := context.Background()
	valid := func(m func(*platformv1.PreviewEnvironment)) *platformv1.PreviewEnvironment {
		pe := &platformv1.PreviewEnvironment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-pr-42"},
			Spec:       platformv1.PreviewEnvironmentSpec{ApplicationRef: "shop", PullRequest: 42, ImageRef: "registry.example.com/shop:pr-42"},
		}
		if m != nil {
			m(pe)
		}
		return pe
	}
	for _, tt := range []struct {
		name   string
		mutate func(*platformv1.PreviewEnvironment)
		want   string
	}{
		{"bad ttl", func(p *platformv1.PreviewEnvironment) { p.Spec.TTL = "3w" }, "spec.ttl"},
		{"pull request 0", func(p *platformv1.PreviewEnvironment) { p.Spec.PullRequest = 0 }, "spec.pullRequest"},
		{"no image", func(p *platformv1.PreviewEnvironment) { p.Spec.ImageRef = "" }, "spec.imageRef"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := k8s.Create(ctx, valid(tt.mutate))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
		})
	}
	pe := valid(nil)
	create(t, pe)
	if pe.Spec.TTL != "72h" {
		t.Errorf("default ttl = %q, want 72h", pe.Spec.TTL)
	}
}

func TestNameDefiningFieldsAreImmutable(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	create(t, newApp(ns, "fixed", func(a *platformv1.Application) { a.Spec.Database.SchemaName = "orders" }))
	for _, tt := range []struct {
		name   string
		mutate func(*platformv1.Application)
		want   string
	}{
		{"environment", func(a *platformv1.Application) { a.Spec.Environment = platformv1.EnvironmentProduction }, "spec.environment cannot change"},
		{"schema name", func(a *platformv1.Application) { a.Spec.Database.SchemaName = "orders_v2" }, "spec.database.schemaName cannot change"},
		{"schema name removed", func(a *platformv1.Application) { a.Spec.Database.SchemaName = "" }, "spec.database.schemaName cannot change"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The operator may update the app (its finalizer) meanwhile.
			err := tryUpdate(client.ObjectKey{Namespace: ns, Name: "fixed"}, &platformv1.Application{}, tt.mutate)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestASecretThatIsNotOursIsNeverTakenOver(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "squatter-db"}, StringData: map[string]string{"DB_PASSWORD": "theirs"}})
	create(t, newApp(ns, "squatter"))
	eventually(t, runningTimeout, "a Secret conflict", func() error {
		c := condition(getApp(t, ns, "squatter"), platformv1.ConditionDatabaseReady)
		if c.Reason != platformv1.ReasonSecretConflict {
			return fmt.Errorf("DatabaseReady %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	if data := secretData(t, ns, "squatter-db"); string(data["DB_PASSWORD"]) != "theirs" || len(data) != 1 {
		t.Fatalf("the user's Secret was changed: %v", data)
	}
}

func TestDatabaseObjectsDroppedByHandComeBackWithTheSamePassword(t *testing.T) {
	t.Parallel()
	ns := runningApp(t, "phoenix")
	ctx := context.Background()
	url := string(secretData(t, ns, "phoenix-db")["DATABASE_URL"])

	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, stmt := range []string{
		`DROP SCHEMA "staging_phoenix" CASCADE`,
		`DROP OWNED BY "staging_phoenix_app", "staging_phoenix_anon"`,
		`DROP ROLE "staging_phoenix_app"`,
		`DROP ROLE "staging_phoenix_anon"`,
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// No event reaches the app: the database drift sweep notices.
	eventually(t, runningTimeout, "the schema and role to be recreated", func() error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "CREATE TABLE reborn (id int)")
		return err
	})
}
