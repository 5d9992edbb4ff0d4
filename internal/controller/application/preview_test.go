package application_test

// PreviewEnvironments, on the same servers and operator as the
// Applications they preview.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/operator"
)

func newPreview(ns, app string, pr int32, mutate ...func(*platformv1.PreviewEnvironment)) *platformv1.PreviewEnvironment {
	pe := &platformv1.PreviewEnvironment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-pr-%d", app, pr)},
		Spec: platformv1.PreviewEnvironmentSpec{
			ApplicationRef: app, PullRequest: pr, ImageRef: fmt.Sprintf("registry.example.com/%s:pr-%d", app, pr),
		},
	}
	for _, m := range mutate {
		m(pe)
	}
	return pe
}

// runningPreview starts the operator and, in a new namespace, a database
// app and its preview of PR pr, and waits for both; it returns the namespace.
func runningPreview(t testing.TB, app string, pr int32, mutate ...func(*platformv1.PreviewEnvironment)) string {
	t.Helper()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, app))
	waitSettled(t, ns, app)
	create(t, newPreview(ns, app, pr, mutate...))
	waitPreviewPhase(t, ns, fmt.Sprintf("%s-pr-%d", app, pr), platformv1.PhaseRunning)
	return ns
}

func getPreview(t testing.TB, ns, name string) *platformv1.PreviewEnvironment {
	t.Helper()
	pe := &platformv1.PreviewEnvironment{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, pe); err != nil {
		t.Fatal(err)
	}
	return pe
}

func waitPreviewPhase(t testing.TB, ns, name string, phase platformv1.Phase) *platformv1.PreviewEnvironment {
	t.Helper()
	var pe *platformv1.PreviewEnvironment
	eventually(t, runningTimeout, fmt.Sprintf("preview %s/%s to be %s", ns, name, phase), func() error {
		pe = &platformv1.PreviewEnvironment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, pe); err != nil {
			return err
		}
		if pe.Status.Phase != phase {
			var conds []string
			for _, c := range pe.Status.Conditions {
				conds = append(conds, fmt.Sprintf("[%s=%s %s: %s]", c.Type, c.Status, c.Reason, c.Message))
			}
			return fmt.Errorf("phase %q %v", pe.Status.Phase, conds)
		}
		return nil
	})
	return pe
}

// previewGone waits until the preview, its namespace, its schema and roles,
// its buckets and its Dex client are all gone, and returns how long that took.
func previewGone(t testing.TB, ns, name, app string, pr int32) time.Duration {
	t.Helper()
	start := time.Now()
	ctx := context.Background()
	previewNS := fmt.Sprintf("preview-%s-pr-%d", app, pr)
	schema := fmt.Sprintf("preview_%s_pr%d", app, pr)
	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	eventually(t, 2*runningTimeout, "the preview and everything it had to go", func() error {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &platformv1.PreviewEnvironment{}); !isNotFound(err) {
			return fmt.Errorf("the PreviewEnvironment is still there (%v)", err)
		}
		if err := k8s.Get(ctx, client.ObjectKey{Name: previewNS}, &corev1.Namespace{}); !isNotFound(err) {
			return fmt.Errorf("namespace %s is still there (%v)", previewNS, err)
		}
		var left int
		if err := admin.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = $1) +
			(SELECT count(*) FROM pg_roles WHERE rolname IN ($1 || '_app', $1 || '_anon'))`, schema).Scan(&left); err != nil {
			return err
		}
		if left != 0 {
			return fmt.Errorf("%d of schema %s and its roles are left", left, schema)
		}
		buckets, err := s3As(t, "", "").ListBuckets(ctx)
		if err != nil {
			return err
		}
		for _, b := range buckets {
			if strings.HasPrefix(b.Name, fmt.Sprintf("plattr-preview-%s-pr%d-", app, pr)) {
				return fmt.Errorf("bucket %s is left", b.Name)
			}
		}
		clients := &unstructured.UnstructuredList{}
		clients.SetAPIVersion("dex.coreos.com/v1")
		clients.SetKind("OAuth2ClientList")
		if err := k8s.List(ctx, clients, client.InNamespace(dexNamespace)); err != nil {
			return err
		}
		for _, c := range clients.Items {
			if id, _, _ := unstructured.NestedString(c.Object, "id"); id == fmt.Sprintf("preview-%s-pr%d", app, pr) {
				return fmt.Errorf("Dex client %s is left", id)
			}
		}
		return nil
	})
	return time.Since(start)
}

func TestAPreviewRunsThePRsImageInItsOwnNamespaceSchemaAndHost(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	ctx := context.Background()
	create(t, newApp(ns, "pvshop", withBuckets(platformv1.BucketSpec{Name: "uploads"}), withAuth(), withDatabase, func(a *platformv1.Application) {
		a.Spec.EnvVars = []platformv1.EnvVar{{Name: "GREETING", Value: "hello"}}
	}))
	waitSettled(t, ns, "pvshop")

	start := time.Now()
	create(t, newPreview(ns, "pvshop", 7))
	create(t, newPreview(ns, "pvshop", 8))
	pe := waitPreviewPhase(t, ns, "pvshop-pr-7", platformv1.PhaseRunning)
	t.Logf("preview create → Running: %s", time.Since(start).Round(time.Millisecond))
	waitPreviewPhase(t, ns, "pvshop-pr-8", platformv1.PhaseRunning)

	if want := "https://pr-7.pvshop.preview." + baseDomain; pe.Status.URL != want {
		t.Errorf("url %q, want %q", pe.Status.URL, want)
	}
	if pe.Status.ExpiresAt == nil || !pe.Status.ExpiresAt.Time.Equal(pe.CreationTimestamp.Add(72*time.Hour)) {
		t.Errorf("expiresAt %v, want creation %v + 72h", pe.Status.ExpiresAt, pe.CreationTimestamp)
	}
	previewNS := "preview-pvshop-pr-7"
	nsObj := &corev1.Namespace{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: previewNS}, nsObj); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{platformv1.LabelType: "preview", platformv1.LabelApp: "pvshop", platformv1.LabelPR: "7"} {
		if nsObj.Labels[k] != v {
			t.Errorf("namespace label %s=%q, want %q", k, nsObj.Labels[k], v)
		}
	}
	d := &appsv1.Deployment{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: previewNS, Name: "pvshop"}, d); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	images := map[string]string{}
	for _, c := range d.Spec.Template.Spec.Containers {
		images[c.Name] = c.Image
		for _, e := range c.Env {
			env[c.Name+"/"+e.Name] = e.Value
		}
	}
	if images["app"] != "registry.example.com/pvshop:pr-7" {
		t.Errorf("the preview runs %q, want the PR's image", images["app"])
	}
	if env["postgrest/PGRST_DB_SCHEMAS"] != "preview_pvshop_pr7" || env["app/GREETING"] != "hello" {
		t.Errorf("PostgREST serves %q (want preview_pvshop_pr7); GREETING=%q", env["postgrest/PGRST_DB_SCHEMAS"], env["app/GREETING"])
	}
	if got := string(secretData(t, previewNS, "pvshop-db")[platformv1.KeyDBSchema]); got != "preview_pvshop_pr7" {
		t.Errorf("DB_SCHEMA %q, want the schema PostgREST is told", got)
	}
	if got := configMapData(t, previewNS, "pvshop-storage")["S3_BUCKET_UPLOADS"]; got != "plattr-preview-pvshop-pr7-uploads" {
		t.Errorf("S3_BUCKET_UPLOADS %q", got)
	}
	if got := configMapData(t, previewNS, "pvshop-auth")[platformv1.KeyAuthRedirectURI]; got != "https://pr-7.pvshop.preview."+baseDomain+platformv1.AuthCallbackPath {
		t.Errorf("AUTH_REDIRECT_URI %q", got)
	}
	ing := &networkingv1.Ingress{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: previewNS, Name: "pvshop"}, ing); err != nil {
		t.Fatal(err)
	}
	if host := ing.Spec.Rules[0].Host; host != "pr-7.pvshop.preview."+baseDomain {
		t.Errorf("Ingress host %q", host)
	}

	// Isolated from the parent and from the other preview.
	seven := connect(t, string(secretData(t, previewNS, "pvshop-db")["DATABASE_URL"]))
	if _, err := seven.Exec(ctx, "CREATE TABLE notes (body text)"); err != nil {
		t.Fatalf("the preview cannot use its schema: %v", err)
	}
	parent := connect(t, string(secretData(t, ns, "pvshop-db")["DATABASE_URL"]))
	if _, err := parent.Exec(ctx, "CREATE TABLE orders (id int)"); err != nil {
		t.Fatal(err)
	}
	for _, probe := range []string{"SELECT * FROM staging_pvshop.orders", "SELECT * FROM preview_pvshop_pr8.anything"} {
		if _, err := seven.Exec(ctx, probe); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("preview 7 ran %q: %v, want permission denied", probe, err)
		}
	}
	if _, err := parent.Exec(ctx, "SELECT * FROM preview_pvshop_pr7.notes"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("the parent read the preview's table: %v, want permission denied", err)
	}

	// Settled: nothing is written; expiresAt holds across a restart and
	// another reconcile.
	time.Sleep(time.Second)
	mark := writes.mark()
	time.Sleep(3 * time.Second)
	for w, n := range writes.since(mark) {
		if strings.Contains(w, previewNS) || strings.Contains(w, "pvshop-pr-") {
			t.Errorf("a settled preview wrote: %s ×%d", w, n)
		}
	}
	expires := pe.Status.ExpiresAt.Time
	stopOperator()
	startOperator(t)
	update(t, client.ObjectKey{Namespace: ns, Name: "pvshop-pr-7"}, &platformv1.PreviewEnvironment{}, func(p *platformv1.PreviewEnvironment) {
		p.Annotations = map[string]string{"touched": "yes"}
	})
	time.Sleep(2 * time.Second)
	if got := getPreview(t, ns, "pvshop-pr-7").Status.ExpiresAt.Time; !got.Equal(expires) {
		t.Errorf("expiresAt moved from %s to %s on a restart and a reconcile", expires, got)
	}
	// The restart is over: the deletions (~10 s of namespace teardown
	// each) run beside the parallel tests.
	t.Parallel()

	// Deleting a preview removes all of it; deleting the parent, its previews.
	start = time.Now()
	if err := k8s.Delete(ctx, getPreview(t, ns, "pvshop-pr-8")); err != nil {
		t.Fatal(err)
	}
	previewGone(t, ns, "pvshop-pr-8", "pvshop", 8)
	t.Logf("preview delete → everything gone: %s", time.Since(start).Round(time.Millisecond))
	deleteApp(t, ns, "pvshop")
	previewGone(t, ns, "pvshop-pr-7", "pvshop", 7)
	waitGone(t, ns, "pvshop")
}

func TestAPreviewWaitsForItsParentAndNamesIt(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newPreview(ns, "pvlater", 1))
	eventually(t, runningTimeout, "ParentNotFound", func() error {
		pe := getPreview(t, ns, "pvlater-pr-1")
		for _, c := range pe.Status.Conditions {
			if c.Type == platformv1.ConditionReady && c.Reason == platformv1.ReasonParentNotFound && strings.Contains(c.Message, "spec.applicationRef") {
				if pe.Status.Phase != platformv1.PhasePending {
					return fmt.Errorf("phase %s, want Pending", pe.Status.Phase)
				}
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", pe.Status.Conditions)
	})
	create(t, newApp(ns, "pvlater"))
	waitPreviewPhase(t, ns, "pvlater-pr-1", platformv1.PhaseRunning)
	deleteApp(t, ns, "pvlater")
	previewGone(t, ns, "pvlater-pr-1", "pvlater", 1)
}

func TestExpiredPreviewsAreSweptWithEverythingTheyHad(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "pvbrief"))
	waitSettled(t, ns, "pvbrief")
	create(t, newPreview(ns, "pvbrief", 1, func(p *platformv1.PreviewEnvironment) { p.Spec.TTL = "30m" }))
	create(t, newPreview(ns, "pvbrief", 2, func(p *platformv1.PreviewEnvironment) { p.Spec.TTL = "72h" }))
	waitPreviewPhase(t, ns, "pvbrief-pr-1", platformv1.PhaseRunning)
	waitPreviewPhase(t, ns, "pvbrief-pr-2", platformv1.PhaseRunning)

	// An hour later, by the operator's clock.
	opClock = clocktesting.NewFakePassiveClock(time.Now().Add(time.Hour))
	t.Cleanup(func() { opClock = nil })
	restartOperatorWith(t, func(c *config.Operator) { c.PreviewSweepInterval = time.Second })
	previewGone(t, ns, "pvbrief-pr-1", "pvbrief", 1)
	time.Sleep(2 * time.Second) // two more sweeps
	if pe := getPreview(t, ns, "pvbrief-pr-2"); !pe.DeletionTimestamp.IsZero() {
		t.Error("a preview that has not expired was deleted")
	}
}

func TestAPreviewCanStartWithACopyOfItsParentsData(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	ctx := context.Background()
	create(t, newApp(ns, "cpshop"))
	waitSettled(t, ns, "cpshop")
	parent := connect(t, string(secretData(t, ns, "cpshop-db")["DATABASE_URL"]))
	for _, s := range []string{
		"CREATE TABLE products (id serial PRIMARY KEY, name text)",
		"INSERT INTO products (name) VALUES ('kettle'), ('teapot')",
	} {
		if _, err := parent.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	copyParent := func(p *platformv1.PreviewEnvironment) {
		p.Spec.Database = &platformv1.PreviewDatabaseSpec{CopyFrom: "parent"}
	}
	create(t, newPreview(ns, "cpshop", 3, copyParent))
	pe := waitPreviewPhase(t, ns, "cpshop-pr-3", platformv1.PhaseRunning)
	if c := meta.FindStatusCondition(pe.Status.Conditions, platformv1.ConditionDataCopied); c == nil || c.Reason != platformv1.ReasonCopied {
		t.Errorf("DataCopied %+v", c)
	}
	preview := connect(t, string(secretData(t, "preview-cpshop-pr-3", "cpshop-db")["DATABASE_URL"]))
	var names string
	if err := preview.QueryRow(ctx, "SELECT string_agg(name, ',' ORDER BY id) FROM products").Scan(&names); err != nil || names != "kettle,teapot" {
		t.Fatalf("the preview's products: %q (%v), want the parent's", names, err)
	}
	if _, err := preview.Exec(ctx, "INSERT INTO products (name) VALUES ('cup')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := parent.QueryRow(ctx, "SELECT count(*) FROM products").Scan(&n); err != nil || n != 2 {
		t.Errorf("the parent has %d products (%v) after a write in the preview, want 2", n, err)
	}

	// A production parent's data stays out of previews unless the platform allows it.
	create(t, newApp(ns, "cpbank", func(a *platformv1.Application) { a.Spec.Environment = platformv1.EnvironmentProduction }))
	waitSettled(t, ns, "cpbank")
	create(t, newPreview(ns, "cpbank", 1, copyParent))
	pe = waitPreviewPhase(t, ns, "cpbank-pr-1", platformv1.PhaseFailed)
	c := meta.FindStatusCondition(pe.Status.Conditions, platformv1.ConditionDataCopied)
	if c == nil || c.Reason != platformv1.ReasonCopyRefused || !strings.Contains(c.Message, "PREVIEW_COPY_FROM_PRODUCTION") {
		t.Errorf("DataCopied %+v, want CopyRefused naming PREVIEW_COPY_FROM_PRODUCTION", c)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "preview-cpbank-pr-1", Name: "cpbank"}, &appsv1.Deployment{}); err == nil {
		t.Error("the refused preview's workload runs anyway")
	}
	deleteApp(t, ns, "cpbank")
	deleteApp(t, ns, "cpshop")
	previewGone(t, ns, "cpbank-pr-1", "cpbank", 1)
	previewGone(t, ns, "cpshop-pr-3", "cpshop", 3)
}

// A replica that is not the leader never sweeps: with the Lease held by
// another replica, an expired preview stays until this one leads.
func TestOnlyTheLeaderSweepsExpiredPreviews(t *testing.T) {
	ns := runningPreview(t, "pvlead", 1, func(p *platformv1.PreviewEnvironment) { p.Spec.TTL = "30m" })
	ctx := context.Background()

	// Another replica holds the Lease for an hour.
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: operator.LeaderElectionID},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("another-replica"), LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime: &metav1.MicroTime{Time: time.Now()}, RenewTime: &metav1.MicroTime{Time: time.Now()},
		},
	}
	create(t, lease)
	opClock = clocktesting.NewFakePassiveClock(time.Now().Add(time.Hour))
	t.Cleanup(func() { opClock = nil })
	restartOperatorWith(t, func(c *config.Operator) {
		c.PreviewSweepInterval = 500 * time.Millisecond
		c.LeaderElection, c.LeaseNamespace = true, ns
	})
	time.Sleep(3 * time.Second) // six sweep intervals
	if pe := getPreview(t, ns, "pvlead-pr-1"); !pe.DeletionTimestamp.IsZero() {
		t.Fatal("a replica that is not the leader deleted an expired preview")
	}
	// The other replica goes away; this one leads and sweeps.
	if err := k8s.Delete(ctx, lease); err != nil {
		t.Fatal(err)
	}
	previewGone(t, ns, "pvlead-pr-1", "pvlead", 1)
	deleteApp(t, ns, "pvlead")
	waitGone(t, ns, "pvlead")
}

// A preview that could not reach PostgreSQL is retried the moment it
// answers again, not when its backoff (by then 16 s) runs out.
func TestAPreviewRecoversAsSoonAsItsBackendReturns(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "pvout"))
	waitSettled(t, ns, "pvout")

	if err := pg.Kill(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = pg.Server.Start(context.Background())
		}
	})
	created := time.Now()
	create(t, newPreview(ns, "pvout", 1))
	eventually(t, runningTimeout, "DatabaseUnavailable", func() error {
		c := meta.FindStatusCondition(getPreview(t, ns, "pvout-pr-1").Status.Conditions, platformv1.ConditionDatabaseReady)
		if c == nil || c.Reason != platformv1.ReasonDatabaseUnavailable {
			return fmt.Errorf("DatabaseReady %+v", c)
		}
		return nil
	})
	// Retries so far at about 0, 1, 3, 7 and 15 s; the next would be at 31 s.
	time.Sleep(time.Until(created.Add(17 * time.Second)))
	if err := pg.Server.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	back := time.Now()
	waitPreviewPhase(t, ns, "pvout-pr-1", platformv1.PhaseRunning)
	if d := time.Since(back); d > 9*time.Second {
		t.Errorf("Running %s after PostgreSQL returned; the backend watch should bring it within its 5 s ping", d.Round(time.Millisecond))
	} else {
		t.Logf("Running %s after PostgreSQL returned", d.Round(time.Millisecond))
	}
	// PostgreSQL is back and the operator is the usual one: what is left
	// (the deletion, ~10 s of namespace teardown) runs beside the parallel
	// tests.
	t.Parallel()
	deleteApp(t, ns, "pvout")
	previewGone(t, ns, "pvout-pr-1", "pvout", 1)
}

// A change of the parent reaches its previews: a variable added to the
// parent appears in the preview's pods, and goes when it is removed.
func TestAParentsChangesReachItsPreviews(t *testing.T) {
	t.Parallel()
	ns := runningPreview(t, "pvchg", 1)
	ctx := context.Background()
	previewEnv := func() map[string]string {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "preview-pvchg-pr-1", Name: "pvchg"}, d); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		return env
	}
	start := time.Now()
	setEnvVars(t, ns, "pvchg", platformv1.EnvVar{Name: "FEATURE", Value: "on"})
	eventually(t, runningTimeout, "FEATURE in the preview", func() error {
		if previewEnv()["FEATURE"] != "on" {
			return fmt.Errorf("env %v", previewEnv())
		}
		return nil
	})
	t.Logf("added to the parent → in the preview: %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	setEnvVars(t, ns, "pvchg")
	eventually(t, runningTimeout, "FEATURE gone from the preview", func() error {
		if _, ok := previewEnv()["FEATURE"]; ok {
			return fmt.Errorf("still there")
		}
		return nil
	})
	t.Logf("removed from the parent → gone from the preview: %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	deleteApp(t, ns, "pvchg")
	previewGone(t, ns, "pvchg-pr-1", "pvchg", 1)
	t.Logf("parent deleted → preview gone: %s", time.Since(start).Round(time.Millisecond))
}
