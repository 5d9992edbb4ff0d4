package application_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/config"
)

// Transitions and persistent failures (issue "Core: correct under
// transitions and faults"). Each test names the defect it guards against.

// metricValue reads one sample from the operator's /metrics; 0 when absent.
func metricValue(t testing.TB, series string) float64 {
	t.Helper()
	_, body, err := get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// writesTo counts the writes in a writeCounter snapshot that touch ns/name.
func writesTo(snapshot map[string]int, ns, name string) (int, []string) {
	n, what := 0, []string(nil)
	for k, c := range snapshot {
		if strings.Contains(k, ns+"/"+name) {
			n += c
			what = append(what, fmt.Sprintf("%s ×%d", k, c))
		}
	}
	return n, what
}

// waitSettled waits until the app is Running at its current generation.
func waitSettled(t testing.TB, ns, name string) *platformv1.Application {
	t.Helper()
	var app *platformv1.Application
	eventually(t, runningTimeout, ns+"/"+name+" to be Running at its generation", func() error {
		app = getApp(t, ns, name)
		if app.Status.Phase != platformv1.PhaseRunning || app.Status.ObservedGeneration != app.Generation {
			return fmt.Errorf("phase %s, generation %d observed %d: %s", app.Status.Phase, app.Generation, app.Status.ObservedGeneration, describeConditions(app))
		}
		return nil
	})
	return app
}

func waitGone(t testing.TB, ns, name string) {
	t.Helper()
	eventually(t, runningTimeout, ns+"/"+name+" to be deleted", func() error {
		app := &platformv1.Application{}
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, app)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still there: %s", describeConditions(app))
	})
}

// withDatabase turns the database on again after withBuckets or withAuth.
func withDatabase(a *platformv1.Application) {
	a.Spec.Database = &platformv1.DatabaseSpec{Enabled: true}
}

func deleteApp(t testing.TB, ns, name string) {
	t.Helper()
	if err := k8s.Delete(context.Background(), &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
		t.Fatal(err)
	}
}

// Defect 1: a Secret in the way of <app>-db made ~60 status writes a second.
func TestAPersistentFailureBacksOffAndStopsWritingOnceFailed(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stuck-db"}, StringData: map[string]string{"DB_PASSWORD": "theirs"}})
	errorsSeries := `controller_runtime_reconcile_errors_total{controller="application"}`
	errorsBefore := metricValue(t, errorsSeries)
	create(t, newApp(ns, "stuck"))

	app := waitPhase(t, ns, "stuck", platformv1.PhaseFailed, runningTimeout)
	if c := condition(app, platformv1.ConditionDatabaseReady); c.Reason != platformv1.ReasonSecretConflict {
		t.Fatalf("DatabaseReady %s: %s", c.Reason, c.Message)
	}
	failures := fmt.Sprintf(`plattr_reconcile_total{name="stuck",namespace=%q,result="failure"}`, ns)
	before := metricValue(t, failures)
	mark := writes.mark()
	time.Sleep(6 * time.Second)
	reconciles := metricValue(t, failures) - before
	if n, what := writesTo(writes.since(mark), ns, "stuck"); n > 0 {
		t.Errorf("a Failed app that keeps failing the same way wrote %d times in 6 s: %v", n, what)
	}
	// Retries 1 s, 2 s, 4 s, 8 s … apart: at most two fall in this window.
	if reconciles > 3 {
		t.Errorf("%v reconciles of the failing app in 6 s; want at most 3 (backing off)", reconciles)
	}
	if got := metricValue(t, errorsSeries) - errorsBefore; got < 3 {
		t.Errorf("controller_runtime_reconcile_errors_total rose by %v; the failures must reach controller-runtime", got)
	}
	if got := getApp(t, ns, "stuck").Status.FailedAttempts; got != 3 {
		t.Errorf("failedAttempts = %d, want it to stop at 3", got)
	}

	// The Secret it waits for going away retries at once, not after the
	// backoff (by now 8 s or more).
	if err := k8s.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stuck-db"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitPhase(t, ns, "stuck", platformv1.PhaseRunning, runningTimeout)
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Running %s after the blocking Secret was deleted; want a retry at once", d.Round(time.Millisecond))
	}
}

// Defect 1: children's status updates (an HPA every 15 s) must not
// reconcile the app.
func TestStatusUpdatesOfChildrenDoNotReconcile(t *testing.T) {
	t.Parallel()
	ns := runningApp(t, "calm")
	success := fmt.Sprintf(`plattr_reconcile_total{name="calm",namespace=%q,result="success"}`, ns)
	time.Sleep(time.Second) // let the last Deployment status events settle
	before := metricValue(t, success)
	for i := range 5 {
		update(t, client.ObjectKey{Namespace: ns, Name: "calm"}, &platformv1.Application{}, func(a *platformv1.Application) {
			a.Status.URL = fmt.Sprintf("https://poke-%d.example", i) // a status-only change of the app itself
		})
		hpa := &unstructured.Unstructured{}
		hpa.SetAPIVersion("autoscaling/v2")
		hpa.SetKind("HorizontalPodAutoscaler")
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "calm"}, hpa); err != nil {
			t.Fatal(err)
		}
		_ = unstructured.SetNestedField(hpa.Object, int64(2+i), "status", "desiredReplicas")
		_ = unstructured.SetNestedField(hpa.Object, int64(2), "status", "currentReplicas")
		if err := k8s.Status().Update(context.Background(), hpa); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	if got := metricValue(t, success) - before; got != 0 {
		t.Errorf("%v reconciles after status-only updates of the app and its HPA; want 0", got)
	}
}

// Defect 2: removed envVars, the PostgREST sidecar of a disabled database
// and a value turned secretKeyRef stayed in (or broke) the Deployment.
func TestFieldsRemovedFromTheSpecLeaveEveryChild(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	key := client.ObjectKey{Namespace: ns, Name: "shrink"}
	create(t, newApp(ns, "shrink", func(a *platformv1.Application) {
		a.Spec.EnvVars = []platformv1.EnvVar{{Name: "KEEP", Value: "1"}, {Name: "DROP", Value: "2"}}
	}))
	waitSettled(t, ns, "shrink")
	appEnv := func() map[string]corev1.EnvVar {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), key, d); err != nil {
			t.Fatal(err)
		}
		out := map[string]corev1.EnvVar{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			out[e.Name] = e
		}
		return out
	}

	setEnvVars(t, ns, "shrink", platformv1.EnvVar{Name: "KEEP", Value: "1"})
	waitSettled(t, ns, "shrink")
	if _, ok := appEnv()["DROP"]; ok {
		t.Error("an envVar removed from the spec is still in the pods")
	}

	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vendor"}, StringData: map[string]string{"key": "k"}})
	setEnvVars(t, ns, "shrink", platformv1.EnvVar{Name: "KEEP", SecretKeyRef: &platformv1.SecretKeySelector{Name: "vendor", Key: "key"}})
	waitSettled(t, ns, "shrink")
	if e := appEnv()["KEEP"]; e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "vendor" {
		t.Errorf("KEEP switched to secretKeyRef is %+v", e)
	}

	update(t, key, &platformv1.Application{}, func(a *platformv1.Application) { a.Spec.Database.Enabled = false })
	waitSettled(t, ns, "shrink")
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), key, d); err != nil {
		t.Fatal(err)
	}
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Errorf("%d containers after the database was switched off; the PostgREST sidecar must go", n)
	}
	svc := &corev1.Service{}
	if err := k8s.Get(context.Background(), key, svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Errorf("Service ports %v; the postgrest port must go", svc.Spec.Ports)
	}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "shrink-api"}, &networkingv1.Ingress{}); !isNotFound(err) {
		t.Errorf("the /api/rest Ingress is still there (err %v)", err)
	}
	for _, mf := range d.ManagedFields {
		if mf.Manager != "plattr" && strings.HasPrefix(mf.Manager, "plattr") && mf.Subresource == "" {
			t.Errorf("field manager %q co-owns the Deployment; Plattr applies under one", mf.Manager)
		}
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want scaling.min 2 left alone", *d.Spec.Replicas)
	}
}

// Defect 3: capabilities switched off, then the app deleted, left the
// schema, the login role, the bucket, the S3 user and the OIDC client.
func TestCapabilitiesSwitchedOffAreStillCleanedUpOnDeletion(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	key := client.ObjectKey{Namespace: ns, Name: "fickle"}
	create(t, newApp(ns, "fickle", withBuckets(platformv1.BucketSpec{Name: "files"}), withAuth(), withDatabase))
	waitSettled(t, ns, "fickle")
	bucket := configMapData(t, ns, "fickle-storage")["S3_BUCKET_FILES"]
	clientID := configMapData(t, ns, "fickle-auth")[platformv1.KeyAuthClientID]
	appKeys := s3As(t, ns, "fickle")

	update(t, key, &platformv1.Application{}, func(a *platformv1.Application) {
		a.Spec.Database.Enabled, a.Spec.Storage.Enabled, a.Spec.Auth.Enabled = false, false, false
	})
	app := waitSettled(t, ns, "fickle")
	for _, f := range []string{platformv1.FinalizerDatabase, platformv1.FinalizerStorage, platformv1.FinalizerAuth} {
		if !slices.Contains(app.Finalizers, f) {
			t.Errorf("finalizer %s dropped when the capability was switched off; its data is still there", f)
		}
	}
	deleteApp(t, ns, "fickle")
	waitGone(t, ns, "fickle")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var leftovers int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'staging_fickle') +
		(SELECT count(*) FROM pg_roles WHERE rolname IN ('staging_fickle_app', 'staging_fickle_anon'))`).Scan(&leftovers); err != nil {
		t.Fatal(err)
	}
	if leftovers != 0 {
		t.Errorf("%d of the schema and roles are left in PostgreSQL", leftovers)
	}
	if ok, err := s3As(t, "", "").BucketExists(ctx, bucket); err != nil || ok {
		t.Errorf("bucket %s still exists (%v)", bucket, err)
	}
	if _, err := appKeys.ListBuckets(ctx); err == nil {
		t.Error("the app's S3 user still works")
	}
	clients := &unstructured.UnstructuredList{}
	clients.SetAPIVersion("dex.coreos.com/v1")
	clients.SetKind("OAuth2ClientList")
	if err := k8s.List(ctx, clients, client.InNamespace(dexNamespace)); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients.Items {
		if id, _, _ := unstructured.NestedString(c.Object, "id"); id == clientID {
			t.Errorf("Dex client %s is left behind", clientID)
		}
	}
}

// Defect 4: without S3_ADMIN_ENDPOINT every app got the platform's keys.
func TestSharedKeysAreRefusedUnlessThePlatformOptsIn(t *testing.T) {
	restartOperatorWith(t, func(c *config.Operator) { c.S3.AdminEndpoint = "" })
	ns := newNamespace(t)
	create(t, newApp(ns, "sharer", withBuckets(platformv1.BucketSpec{Name: "b"})))
	eventually(t, runningTimeout, "StorageReady to refuse shared keys", func() error {
		c := condition(getApp(t, ns, "sharer"), platformv1.ConditionStorageReady)
		if c.Reason != platformv1.ReasonSharedKeysRefused || !strings.Contains(c.Message, "S3_ALLOW_SHARED_KEYS=true") || !strings.Contains(c.Message, "S3_ADMIN_ENDPOINT") {
			return fmt.Errorf("StorageReady %s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "sharer-storage"}, &corev1.Secret{}); !isNotFound(err) {
		t.Fatalf("the storage Secret exists while storage is refused (err %v)", err)
	}

	restartOperatorWith(t, func(c *config.Operator) { c.S3.AdminEndpoint, c.S3.AllowSharedKeys = "", true })
	waitSettled(t, ns, "sharer")
	if got := string(secretData(t, ns, "sharer-storage")[platformv1.KeyAccessKeyID]); got != s3.AccessKey {
		t.Errorf("with S3_ALLOW_SHARED_KEYS the app has key %q, want the platform's", got)
	}
	deleteApp(t, ns, "sharer")
	waitGone(t, ns, "sharer")
}

// Defect 12: a deletion whose backend is gone said nothing and hung.
func TestDeletionBlockedByAMissingBackendSaysWhyAndCanBeAbandoned(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "stranded", withBuckets(platformv1.BucketSpec{Name: "b"}), withDatabase))
	waitSettled(t, ns, "stranded")
	bucket := configMapData(t, ns, "stranded-storage")["S3_BUCKET_B"]

	restartOperatorWith(t, func(c *config.Operator) { c.S3 = config.S3{} })
	deleteApp(t, ns, "stranded")
	eventually(t, runningTimeout, "Ready to say the cleanup is blocked", func() error {
		app := getApp(t, ns, "stranded")
		c := condition(app, platformv1.ConditionReady)
		if c.Reason != platformv1.ReasonCleanupBlocked || !strings.Contains(c.Message, "S3_ENDPOINT") ||
			!strings.Contains(c.Message, platformv1.AnnotationAbandonCleanup) || app.Status.Phase != platformv1.PhaseTerminating {
			return fmt.Errorf("phase %s, Ready %s: %s", app.Status.Phase, c.Reason, c.Message)
		}
		if slices.Contains(app.Finalizers, platformv1.FinalizerDatabase) {
			return fmt.Errorf("the database finalizer is still there: its cleanup does not need the object store")
		}
		return nil
	})
	mark := writes.mark()
	time.Sleep(3 * time.Second)
	if n, what := writesTo(writes.since(mark), ns, "stranded"); n > 0 {
		t.Errorf("a blocked deletion wrote %d times in 3 s: %v", n, what)
	}

	update(t, client.ObjectKey{Namespace: ns, Name: "stranded"}, &platformv1.Application{}, func(a *platformv1.Application) {
		metav1.SetMetaDataAnnotation(&a.ObjectMeta, platformv1.AnnotationAbandonCleanup, "true")
	})
	waitGone(t, ns, "stranded")
	// Abandoned means left behind, as the Event says: clean it up here.
	admin := s3As(t, "", "")
	if ok, _ := admin.BucketExists(context.Background(), bucket); !ok {
		t.Errorf("bucket %s is gone although its cleanup was abandoned", bucket)
	}
	_ = admin.RemoveBucketWithOptions(context.Background(), bucket, minio.RemoveBucketOptions{ForceDelete: true})
}

// Defect 12: a backend down during deletion is named, and the deletion
// finishes by itself when it returns.
func TestDeletionWhileTheObjectStoreIsDownNamesItAndFinishesWhenItReturns(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "patient", withBuckets(platformv1.BucketSpec{Name: "b"})))
	waitSettled(t, ns, "patient")
	restartObjectStore := stopObjectStore(t)
	deleteApp(t, ns, "patient")
	eventually(t, runningTimeout, "Ready to name the object store", func() error {
		c := condition(getApp(t, ns, "patient"), platformv1.ConditionReady)
		if c.Reason != platformv1.ReasonCleanupFailed || !strings.Contains(c.Message, "object store") {
			return fmt.Errorf("Ready %s: %s", c.Reason, c.Message)
		}
		return nil
	})
	time.Sleep(8 * time.Second) // let the backoff grow past the recovery check
	restartObjectStore()
	start := time.Now()
	waitGone(t, ns, "patient")
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("deleted %s after the object store returned; want it noticed within the 5 s recovery check", d.Round(time.Millisecond))
	}
}

// stopObjectStore stops versitygw for the rest of a test; the returned
// function starts it again (the cleanup does, if the test did not).
func stopObjectStore(t *testing.T) (restart func()) {
	t.Helper()
	if err := s3.Server.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = s3.Start(context.Background())
		}
	})
	return func() {
		t.Helper()
		if err := s3.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		restarted = true
	}
}

// setNodesSchedulable cordons or uncordons every simulated node.
func setNodesSchedulable(t testing.TB, schedulable bool) {
	t.Helper()
	nodes := &corev1.NodeList{}
	if err := k8s.List(context.Background(), nodes); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		update(t, client.ObjectKey{Name: n.Name}, &corev1.Node{}, func(n *corev1.Node) { n.Spec.Unschedulable = !schedulable })
	}
}

// Defect 10: pods added by the HPA (or replacing an evicted one) flipped a
// Running app to Provisioning; a rollout that could never finish stayed
// Provisioning instead of failing with the pods' reason.
func TestWorkloadStatusFollowsTheRolloutNotTheScaling(t *testing.T) {
	ns := runningApp(t, "steady")
	t.Cleanup(func() { setNodesSchedulable(t, true) })
	setNodesSchedulable(t, false)

	// The HPA scales up; the new pods cannot be placed yet.
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "steady"}}
	scale := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":4}}`))
	if err := k8s.SubResource("scale").Patch(context.Background(), d, scale, &client.SubResourcePatchOptions{SubResourceBody: &autoscalingv1.Scale{}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		app := getApp(t, ns, "steady")
		if app.Status.Phase != platformv1.PhaseRunning {
			t.Fatalf("phase %s while the HPA adds pods to a finished rollout: %s", app.Status.Phase, describeConditions(app))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A new image that cannot roll out within the progress deadline fails
	// the app with the pods' reason.
	restartOperatorWith(t, func(c *config.Operator) { c.ProgressDeadline = 2 * time.Second })
	update(t, client.ObjectKey{Namespace: ns, Name: "steady"}, &platformv1.Application{}, func(a *platformv1.Application) {
		a.Spec.ImageRef = "registry.example.com/steady:2"
	})
	app := waitPhase(t, ns, "steady", platformv1.PhaseFailed, runningTimeout)
	c := condition(app, platformv1.ConditionDeploymentReady)
	if c.Reason != platformv1.ReasonProgressDeadlineExceeded || !strings.Contains(c.Message, "Unschedulable") {
		t.Errorf("DeploymentReady %s: %s; want ProgressDeadlineExceeded with the pods' reason", c.Reason, c.Message)
	}

	// Room again: the rollout proceeds and the app recovers by itself.
	setNodesSchedulable(t, true)
	waitSettled(t, ns, "steady")
}

// Defect 9: the reserved names must cover every variable the operator puts
// in an app's environment, read here from a real app with every capability.
func TestEveryVariableThePlatformSetsIsReserved(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "full", withBuckets(platformv1.BucketSpec{Name: "files"}), withAuth(), withDatabase))
	waitSettled(t, ns, "full")
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "full"}, d); err != nil {
		t.Fatal(err)
	}
	reserved := func(name string) bool {
		if slices.Contains(platformv1.ReservedEnvVarNames, name) {
			return true
		}
		return slices.ContainsFunc(platformv1.ReservedEnvVarPrefixes, func(p string) bool { return strings.HasPrefix(name, p) })
	}
	var names []string
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			names = append(names, e.Name)
		}
		for _, from := range c.EnvFrom {
			switch {
			case from.SecretRef != nil:
				for k := range secretData(t, ns, from.SecretRef.Name) {
					names = append(names, k)
				}
			case from.ConfigMapRef != nil:
				for k := range configMapData(t, ns, from.ConfigMapRef.Name) {
					names = append(names, k)
				}
			}
		}
	}
	if len(names) < 15 {
		t.Fatalf("only %d variables found: %v", len(names), names)
	}
	for _, n := range names {
		if !reserved(n) {
			t.Errorf("the platform sets %s, but spec.envVars may use that name", n)
		}
	}
}

// Defect 11: an outage of one capability blocked a new image from rolling
// out, although the app's configuration had been provisioned before.
func TestANewImageRollsOutWhileACapabilityIsDown(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "resilient", withBuckets(platformv1.BucketSpec{Name: "b"}), withDatabase))
	waitSettled(t, ns, "resilient")
	restartObjectStore := stopObjectStore(t)
	update(t, client.ObjectKey{Namespace: ns, Name: "resilient"}, &platformv1.Application{}, func(a *platformv1.Application) {
		a.Spec.ImageRef = "registry.example.com/resilient:2"
	})
	eventually(t, runningTimeout, "the new image to roll out with the last good storage configuration", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "resilient"}, d); err != nil {
			return err
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/resilient:2" {
			return fmt.Errorf("image %s", img)
		}
		app := getApp(t, ns, "resilient")
		st := condition(app, platformv1.ConditionStorageReady)
		if st.Reason != platformv1.ReasonObjectStoreUnavailable || !strings.Contains(st.Message, "keeps the configuration provisioned before") {
			return fmt.Errorf("StorageReady %s: %s", st.Reason, st.Message)
		}
		if dr := condition(app, platformv1.ConditionDeploymentReady); dr.Status != metav1.ConditionTrue {
			return fmt.Errorf("DeploymentReady %s %s: %s", dr.Status, dr.Reason, dr.Message)
		}
		if app.Status.Phase == platformv1.PhaseRunning {
			return fmt.Errorf("Running while the object store is down")
		}
		return nil
	})
	restartObjectStore()
	waitSettled(t, ns, "resilient")
}

// Defect 7: a password changed behind the Secret's back left DatabaseReady
// True while the app could not log in. The drift sweep notices it without
// any event on the app and sets the Secret's password back.
func TestADriftedPasswordIsNoticedAndSetBack(t *testing.T) {
	t.Parallel()
	ns := runningApp(t, "drifty")
	ctx := context.Background()
	url := string(secretData(t, ns, "drifty-db")[platformv1.KeyDatabaseURL])
	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	// Settled: sweeps every second find nothing and write nothing.
	time.Sleep(2 * time.Second)
	mark := writes.mark()
	time.Sleep(3 * time.Second)
	if n, what := writesTo(writes.since(mark), ns, "drifty"); n > 0 {
		t.Fatalf("a settled app was written %d times while the drift sweep ran: %v", n, what)
	}

	if _, err := admin.Exec(ctx, `ALTER ROLE "staging_drifty_app" PASSWORD 'restored-from-backup'`); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the Secret's password to work again", func() error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	eventually(t, 10*time.Second, "a PasswordRestored Event", func() error {
		events := &eventsv1.EventList{}
		if err := k8s.List(ctx, events, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Reason == "PasswordRestored" && e.Regarding.Name == "drifty" {
				return nil
			}
		}
		return fmt.Errorf("none among %d events", len(events.Items))
	})
	if app := getApp(t, ns, "drifty"); app.Status.Phase != platformv1.PhaseRunning {
		t.Errorf("phase %s after the password was set back", app.Status.Phase)
	}
}

// Found by make bench-scale: deleting a namespace removes the children
// before the app; the operator recreated them, was refused ("namespace is
// being terminated") and turned the apps Failed, retrying against the
// cleanup.
func TestDeletingTheNamespaceCleansUpWithoutFailing(t *testing.T) {
	t.Parallel()
	ns := runningApp(t, "evicted")
	ctx := context.Background()
	if err := k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(runningTimeout)
	for {
		app := &platformv1.Application{}
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "evicted"}, app)
		if isNotFound(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if app.Status.Phase == platformv1.PhaseFailed || condition(app, platformv1.ConditionDeploymentReady).Reason == platformv1.ReasonApplyFailed {
			t.Fatalf("the app failed while its namespace was deleted: %s", describeConditions(app))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app is still there: %s", describeConditions(app))
		}
		time.Sleep(50 * time.Millisecond)
	}
	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var schemas int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = 'staging_evicted'").Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("schema left after the namespace went: %d (%v)", schemas, err)
	}
}
