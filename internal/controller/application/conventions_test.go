package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// kstatusOf is what Flux, kpt and Config Sync decide from the object as
// the API server has it: kstatus, computed by the library itself.
func kstatusOf(t testing.TB, kind string, key client.ObjectKey) *status.Result {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(platformv1.GroupVersion.WithKind(kind))
	if err := k8s.Get(context.Background(), key, u); err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(u)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// waitKstatus waits until kstatus says want for the object.
func waitKstatus(t testing.TB, kind string, key client.ObjectKey, want status.Status) *status.Result {
	t.Helper()
	var res *status.Result
	eventually(t, runningTimeout, fmt.Sprintf("%s %s to be %s", kind, key, want), func() error {
		if res = kstatusOf(t, kind, key); res.Status != want {
			return fmt.Errorf("kstatus %s: %s", res.Status, res.Message)
		}
		return nil
	})
	return res
}

// stalledReason is the reason of Stalled=True in a kstatus result.
func stalledReason(res *status.Result) string {
	for _, c := range res.Conditions {
		if c.Type == status.ConditionStalled && c.Status == corev1.ConditionTrue {
			return c.Reason
		}
	}
	return ""
}

// GitOps readiness: what a Flux Kustomization waiting on Plattr's objects
// sees. Running is Current; an app its owner must fix (a foreign Secret in
// the way, no image) is Failed with the failing reason, not InProgress until
// a timeout; an app that never succeeded still has observedGeneration.
// Before the kit, the SecretConflict app was InProgress and had no
// observedGeneration.
func TestKstatusSaysWhatAUserExpectsOfEveryKind(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	ctx := context.Background()

	create(t, newApp(ns, "ksok"))
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kstaken-db"}, StringData: map[string]string{"DB_PASSWORD": "theirs"}})
	create(t, newApp(ns, "kstaken"))
	create(t, newApp(ns, "ksnoimage", func(a *platformv1.Application) { a.Spec.ImageRef = "" }))

	waitKstatus(t, "Application", client.ObjectKey{Namespace: ns, Name: "ksok"}, status.CurrentStatus)
	res := waitKstatus(t, "Application", client.ObjectKey{Namespace: ns, Name: "kstaken"}, status.FailedStatus)
	if r := stalledReason(res); r != platformv1.ReasonSecretConflict {
		t.Errorf("the conflicting app is Stalled %q, want %s", r, platformv1.ReasonSecretConflict)
	}
	if app := getApp(t, ns, "kstaken"); app.Status.Phase != platformv1.PhaseFailed || app.Status.ObservedGeneration != app.Generation {
		t.Errorf("phase %s, observedGeneration %d of %d: a failing status write must record the generation", app.Status.Phase, app.Status.ObservedGeneration, app.Generation)
	}
	res = waitKstatus(t, "Application", client.ObjectKey{Namespace: ns, Name: "ksnoimage"}, status.FailedStatus)
	if r := stalledReason(res); r != platformv1.ReasonImageMissing {
		t.Errorf("the app without an image is Stalled %q, want %s", r, platformv1.ReasonImageMissing)
	}
	if app := getApp(t, ns, "ksnoimage"); app.Status.Phase != platformv1.PhasePending || app.Status.ObservedGeneration != app.Generation {
		t.Errorf("phase %s, observedGeneration %d of %d", app.Status.Phase, app.Status.ObservedGeneration, app.Generation)
	}

	// Fixed by its owner, the app goes back to in flight and then Current.
	if err := k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kstaken-db"}}); err != nil {
		t.Fatal(err)
	}
	waitKstatus(t, "Application", client.ObjectKey{Namespace: ns, Name: "kstaken"}, status.CurrentStatus)

	// A preview: Current when Running, Failed when its parent is missing.
	create(t, newPreview(ns, "ksok", 1))
	waitKstatus(t, "PreviewEnvironment", client.ObjectKey{Namespace: ns, Name: "ksok-pr-1"}, status.CurrentStatus)
	create(t, newPreview(ns, "ksnobody", 2))
	res = waitKstatus(t, "PreviewEnvironment", client.ObjectKey{Namespace: ns, Name: "ksnobody-pr-2"}, status.FailedStatus)
	if r := stalledReason(res); r != platformv1.ReasonParentNotFound {
		t.Errorf("the orphan preview is Stalled %q, want %s", r, platformv1.ReasonParentNotFound)
	}
	deleteApp(t, ns, "ksok")
	previewGone(t, ns, "ksok-pr-1", "ksok", 1)
	for _, name := range []string{"kstaken", "ksnoimage"} {
		deleteApp(t, ns, name)
		waitGone(t, ns, name)
	}

	// A tenant: Current when its namespaces are ready; Failed when one of
	// its names is someone else's namespace.
	name := fmt.Sprintf("ks%d", nsCounter.Add(1))
	tenant := &platformv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: platformv1.TenantSpec{Environments: []platformv1.Environment{platformv1.EnvironmentStaging}}}
	create(t, tenant)
	t.Cleanup(func() { _ = k8s.Delete(ctx, tenant) })
	waitKstatus(t, "Tenant", client.ObjectKey{Name: name}, status.CurrentStatus)

	clash := fmt.Sprintf("kc%d", nsCounter.Add(1))
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: clash + "-staging"}})
	t.Cleanup(func() {
		_ = k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: clash + "-staging"}})
	})
	other := &platformv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: clash}, Spec: platformv1.TenantSpec{Environments: []platformv1.Environment{platformv1.EnvironmentStaging}}}
	create(t, other)
	t.Cleanup(func() { _ = k8s.Delete(ctx, other) })
	res = waitKstatus(t, "Tenant", client.ObjectKey{Name: clash}, status.FailedStatus)
	if r := stalledReason(res); r != platformv1.ReasonNamespaceConflict {
		t.Errorf("the clashing tenant is Stalled %q, want %s", r, platformv1.ReasonNamespaceConflict)
	}
}

// A platform backend's outage is not the app's failure: PostgreSQL stopped
// for longer than three backoff steps while an app is being created keeps
// it Provisioning (kstatus InProgress, Reconciling BackendUnavailable),
// never Failed, with failedAttempts 0 and no status write per retry; it is
// Running soon after PostgreSQL returns. Before the kit it went Failed
// after the third retry (1 s, 2 s, 4 s).
func TestADatabaseOutageDuringCreationIsNotTheAppsFailure(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
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
	create(t, newApp(ns, "pgpatient"))
	key := client.ObjectKey{Namespace: ns, Name: "pgpatient"}
	eventually(t, runningTimeout, "Reconciling to name the database", func() error {
		c := condition(getApp(t, ns, "pgpatient"), platformv1.ConditionReconciling)
		if c.Status != metav1.ConditionTrue || c.Reason != platformv1.ReasonBackendUnavailable || !strings.Contains(c.Message, "database") {
			return fmt.Errorf("Reconciling %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	failures := fmt.Sprintf(`plattr_reconcile_total{name="pgpatient",namespace=%q,result="failure"}`, ns)
	// The first retry may still reword the first failure (its connection
	// error said otherwise under load): count from after it. (The
	// operator's own finalizer write used to bring that retry at once.)
	first := metricValue(t, failures)
	eventually(t, runningTimeout, "a first retry", func() error {
		if metricValue(t, failures) <= first {
			return fmt.Errorf("no retry yet")
		}
		return nil
	})
	mark := writes.mark()
	before := metricValue(t, failures)

	// Retries at about 1, 3, 7 and 15 s: past three backoff steps.
	for time.Since(created) < 17*time.Second {
		app := getApp(t, ns, "pgpatient")
		if app.Status.Phase == platformv1.PhaseFailed || app.Status.FailedAttempts != 0 {
			t.Fatalf("phase %s, failedAttempts %d during the outage: %s", app.Status.Phase, app.Status.FailedAttempts, describeConditions(app))
		}
		if res := kstatusOf(t, "Application", key); res.Status != status.InProgressStatus {
			t.Fatalf("kstatus %s during the outage: %s", res.Status, res.Message)
		}
		time.Sleep(500 * time.Millisecond)
	}
	retries := metricValue(t, failures) - before
	statusWrites := 0
	n, what := writesTo(writes.since(mark), ns, "pgpatient")
	for _, w := range what {
		if strings.HasPrefix(w, "patch/status") {
			statusWrites++
		}
	}
	if retries < 2 {
		t.Fatalf("%v retries during the outage; the test needs some to count writes", retries)
	}
	if n > 0 {
		t.Errorf("%v retries of an outage wrote %d times: %v", retries, n, what)
	}
	t.Logf("%v retries during the outage, %d writes (%d status)", retries, n, statusWrites)

	if err := pg.Server.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	back := time.Now()
	waitPhase(t, ns, "pgpatient", platformv1.PhaseRunning, runningTimeout)
	t.Logf("Running %s after PostgreSQL returned", time.Since(back).Round(time.Millisecond))
	if d := time.Since(back); d > 12*time.Second {
		t.Errorf("Running %s after PostgreSQL returned; the backend watch (5 s pings) should bring it sooner", d.Round(time.Millisecond))
	}
	// PostgreSQL is back and the operator is the usual one: what is left
	// (the deletion, ~10 s of namespace teardown) runs beside the parallel
	// tests.
	t.Parallel()
	waitKstatus(t, "Application", key, status.CurrentStatus)
	deleteApp(t, ns, "pgpatient")
	waitGone(t, ns, "pgpatient")
}

// Regression: a preview whose cleanup failed on a backend was retried only
// when its backoff ran out (the app's was woken by the backend watch): the
// preview's cleanup now runs on the kit, which registers it with the watch.
// Failed before the kit (the next retry came 31 s after the deletion).
func TestAPreviewWhoseCleanupFailsIsWokenWhenItsBackendReturns(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "pvclean", withBuckets(platformv1.BucketSpec{Name: "b"})))
	waitSettled(t, ns, "pvclean")
	create(t, newPreview(ns, "pvclean", 1))
	waitPreviewPhase(t, ns, "pvclean-pr-1", platformv1.PhaseRunning)

	restartObjectStore := stopObjectStore(t)
	deleted := time.Now()
	if err := k8s.Delete(context.Background(), &platformv1.PreviewEnvironment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pvclean-pr-1"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, runningTimeout, "Ready to name the object store", func() error {
		pe := getPreview(t, ns, "pvclean-pr-1")
		c := condition(&platformv1.Application{Status: platformv1.ApplicationStatus{Conditions: pe.Status.Conditions}}, platformv1.ConditionReady)
		if c.Reason != platformv1.ReasonCleanupFailed || !strings.Contains(c.Message, "object store") {
			return fmt.Errorf("Ready %s: %s", c.Reason, c.Message)
		}
		return nil
	})
	// Retries at about 1, 3, 7, 15 and 31 s after the deletion: restart
	// the store at 17 s, when the backoff alone would wait 14 s more.
	time.Sleep(time.Until(deleted.Add(17 * time.Second)))
	restartObjectStore()
	back := time.Now()
	eventually(t, runningTimeout, "the preview to be deleted", func() error {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "pvclean-pr-1"}, &platformv1.PreviewEnvironment{})
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
	if d := time.Since(back); d > 10*time.Second {
		t.Errorf("deleted %s after the object store returned; want it woken within the 5 s recovery check", d.Round(time.Millisecond))
	} else {
		t.Logf("deleted %s after the object store returned", d.Round(time.Millisecond))
	}
	// The object store is back: the parent's deletion runs beside the
	// parallel tests.
	t.Parallel()
	deleteApp(t, ns, "pvclean")
	waitGone(t, ns, "pvclean")
}
