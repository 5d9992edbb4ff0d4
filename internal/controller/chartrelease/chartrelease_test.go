package chartrelease_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/charts/discovery"
	"github.com/plattr/plattr/internal/charts/helmrun"
	"github.com/plattr/plattr/internal/controller/chartsource"
)

const teamA, teamB = "team-a-staging", "team-b-staging"

var pushOnce sync.Map

// published pushes a testdata chart once and waits until the source
// local has recorded it.
func published(t *testing.T, chart, version string) {
	t.Helper()
	key := chart + ":" + version
	if _, loaded := pushOnce.LoadOrStore(key, true); !loaded {
		pushChart(t, chart, version, "charts")
	}
	waitFor(t, 60*time.Second, key+" discovered", func() (bool, string) {
		for _, cv := range versionsOf(t, "local") {
			if cv.Spec.Repository == "charts/"+chart && cv.Spec.Version == version && (cv.Status.Extensions != nil || cv.Status.Error != "" || cv.Status.Format == "") {
				return true, ""
			}
		}
		return false, "not yet"
	})
}

func input(name string, v any) platformv1.ChartInput {
	b, _ := json.Marshal(v)
	return platformv1.ChartInput{Name: name, Value: &apiextensionsv1.JSON{Raw: b}}
}

func get(t *testing.T, ns, name string) *platformv1.ChartRelease {
	t.Helper()
	rel := &platformv1.ChartRelease{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, rel); err != nil {
		t.Fatal(err)
	}
	return rel
}

// waitCond waits for the release's condition typ to have status, at the
// release's current generation, and returns the release.
func waitCond(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, within time.Duration) *platformv1.ChartRelease {
	t.Helper()
	var rel *platformv1.ChartRelease
	waitFor(t, within, fmt.Sprintf("%s/%s %s=%s", ns, name, typ, status), func() (bool, string) {
		rel = get(t, ns, name)
		c := meta.FindStatusCondition(rel.Status.Conditions, typ)
		return c != nil && c.Status == status && rel.Status.ObservedGeneration == rel.Generation, fmt.Sprintf("%+v", rel.Status.Conditions)
	})
	return rel
}

// helmRevisions counts the Helm storage Secrets of a release.
func helmRevisions(t *testing.T, ns, name string) int {
	t.Helper()
	list := &corev1.SecretList{}
	if err := k8s.List(t.Context(), list, client.InNamespace(ns), client.MatchingLabels{"owner": "helm", "name": name}); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

func deployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return d
}

func patchRelease(t *testing.T, ns, name string, change func(*platformv1.ChartRelease)) {
	t.Helper()
	rel := get(t, ns, name)
	p := client.MergeFrom(rel.DeepCopy())
	change(rel)
	if err := k8s.Patch(t.Context(), rel, p); err != nil {
		t.Fatal(err)
	}
}

// TestRevisions: install → revision 1 with the UI outputs, the injected
// ingress and the output Secret; an input change → 2; reconciles with
// nothing changed → no new revision and no write; rollback → 3 with
// revision 1's values; uninstall → everything gone.
func TestRevisions(t *testing.T) {
	published(t, "webapp", "0.1.0")
	if err := k8s.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "web-key", Namespace: teamA},
		StringData: map[string]string{"key": "k3y"}}); err != nil {
		t.Fatal(err)
	}
	rel := &platformv1.ChartRelease{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: teamA},
		Spec: platformv1.ChartReleaseSpec{Chart: platformv1.ChartRef{Source: "local", Repository: "charts/webapp", Version: "0.1.0"},
			Inputs: []platformv1.ChartInput{input("greeting", "hi"), input("replicas", 1), input("tier", "small"),
				{Name: "apiKey", ValueFrom: &platformv1.ChartInputSource{SecretKeyRef: &platformv1.SecretKeyRef{Name: "web-key", Key: "key"}}}}},
	}
	start := time.Now()
	if err := k8s.Create(t.Context(), rel); err != nil {
		t.Fatal(err)
	}
	got := waitCond(t, teamA, "web", platformv1.ConditionReady, metav1.ConditionTrue, 3*time.Minute)
	t.Logf("install to Ready: %s", time.Since(start).Round(10*time.Millisecond))
	host := "web." + teamA + ".charts." + baseDomain
	if got.Status.Revision != 1 || helmRevisions(t, teamA, "web") != 1 || got.Status.IngressHost != host || got.Status.Phase != platformv1.PhaseRunning {
		t.Fatalf("after install: revision %d, %d Helm revisions, host %q, phase %s", got.Status.Revision, helmRevisions(t, teamA, "web"), got.Status.IngressHost, got.Status.Phase)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, platformv1.ConditionReleased); c.Reason != platformv1.ReasonInstalled {
		t.Errorf("Released = %+v", c)
	}
	d := deployment(t, teamA, "web")
	if a := d.Spec.Template.Annotations; a["webapp/greeting"] != "hi" || a["webapp/host"] != host || a["webapp/tier"] != "small" {
		t.Errorf("the Deployment lacks the UI outputs or the ingress: %v", a)
	}
	ing := &networkingv1.Ingress{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: teamA, Name: "web"}, ing); err != nil || ing.Spec.Rules[0].Host != host || ing.Spec.TLS[0].SecretName != "web-tls" {
		t.Errorf("the injected ingress: %v %+v", err, ing.Spec)
	}
	sec := &corev1.Secret{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: teamA, Name: "webapp-api"}, sec); err != nil || string(sec.Data["API_KEY"]) != "k3y" {
		t.Errorf("the output Secret: %v %v", err, sec.Data)
	}
	if len(got.Status.History) != 1 || got.Status.History[0].Chart != "webapp-0.1.0" || got.Status.History[0].Status != "deployed" || got.Status.History[0].AppVersion != "1.0.0" {
		t.Errorf("history = %+v", got.Status.History)
	}

	// An input change: revision 2.
	start = time.Now()
	patchRelease(t, teamA, "web", func(r *platformv1.ChartRelease) { r.Spec.Inputs[0] = input("greeting", "hello again") })
	waitFor(t, 3*time.Minute, "revision 2", func() (bool, string) {
		r := get(t, teamA, "web")
		return r.Status.Revision == 2 && r.Status.ObservedGeneration == r.Generation && r.Status.Phase == platformv1.PhaseRunning, fmt.Sprint(r.Status.Revision)
	})
	t.Logf("upgrade to Ready: %s", time.Since(start).Round(10*time.Millisecond))
	if a := deployment(t, teamA, "web").Spec.Template.Annotations; a["webapp/greeting"] != "hello again" {
		t.Errorf("after the upgrade greeting = %q", a["webapp/greeting"])
	}

	// Nothing changed: two reconciles make no revision and write nothing.
	repo := chartsource.RepositoryLabel("charts/webapp")
	before, w0 := calls.get(&calls.scans, repo), writesOf("status "+teamA+"/web")
	for i := range 2 {
		patchRelease(t, teamA, "web", func(r *platformv1.ChartRelease) {
			r.Annotations = map[string]string{"test/poke": fmt.Sprint(i)}
		})
		waitFor(t, time.Minute, "a reconcile", func() (bool, string) { return calls.get(&calls.scans, repo) > before+i, "" })
	}
	// The second poke's reconcile began only after the first's ended; wait
	// for a third to be sure the second ended too.
	patchRelease(t, teamA, "web", func(r *platformv1.ChartRelease) { r.Annotations = map[string]string{"test/poke": "done"} })
	waitFor(t, time.Minute, "a third reconcile", func() (bool, string) { return calls.get(&calls.scans, repo) >= before+3, "" })
	if n := helmRevisions(t, teamA, "web"); n != 2 {
		t.Errorf("reconciles with nothing changed made Helm revisions: %d, want 2", n)
	}
	if w := writesOf("status "+teamA+"/web") - w0; w != 0 {
		t.Errorf("reconciles with nothing changed wrote the status %d times", w)
	}

	// Rollback to 1: revision 3 with revision 1's values.
	patchRelease(t, teamA, "web", func(r *platformv1.ChartRelease) { r.Spec.RollbackTo = ptr.To[int32](1) })
	waitFor(t, 3*time.Minute, "revision 3", func() (bool, string) {
		r := get(t, teamA, "web")
		return r.Status.Revision == 3 && r.Status.ObservedGeneration == r.Generation, fmt.Sprint(r.Status.Revision)
	})
	if a := deployment(t, teamA, "web").Spec.Template.Annotations; a["webapp/greeting"] != "hi" {
		t.Errorf("after rolling back to 1 greeting = %q, want revision 1's hi", a["webapp/greeting"])
	}
	r := get(t, teamA, "web")
	if r.Status.History[0].Description != "Rollback to 1" || r.Status.History[0].ValuesDigest != r.Status.History[2].ValuesDigest || len(r.Status.History) != 3 {
		t.Errorf("history after rollback = %+v", r.Status.History)
	}

	// Uninstall: the release, its revisions, its objects and its Secret go.
	if err := k8s.Delete(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "everything gone", func() (bool, string) {
		err := k8s.Get(t.Context(), client.ObjectKey{Namespace: teamA, Name: "web"}, &platformv1.ChartRelease{})
		derr := k8s.Get(t.Context(), client.ObjectKey{Namespace: teamA, Name: "web"}, &appsv1.Deployment{})
		serr := k8s.Get(t.Context(), client.ObjectKey{Namespace: teamA, Name: "webapp-api"}, &corev1.Secret{})
		return apierrors.IsNotFound(err) && apierrors.IsNotFound(derr) && apierrors.IsNotFound(serr) && helmRevisions(t, teamA, "web") == 0,
			fmt.Sprint(err, derr, serr, helmRevisions(t, teamA, "web"))
	})
}

func writesOf(key string) int { return calls.get(&calls.writes, key) }

// TestInterruptedUpgradeIsUnlocked: the operator killed during an upgrade
// leaves the newest revision pending-upgrade (simulated with the Helm SDK:
// the revision Helm writes first when an upgrade starts); the next
// reconcile unlocks it and converges.
func TestInterruptedUpgradeIsUnlocked(t *testing.T) {
	published(t, "webapp", "0.1.0")
	rel := &platformv1.ChartRelease{
		ObjectMeta: metav1.ObjectMeta{Name: "crash", Namespace: teamB},
		Spec: platformv1.ChartReleaseSpec{Chart: platformv1.ChartRef{Source: "local", Repository: "charts/webapp"},
			Inputs: []platformv1.ChartInput{input("greeting", "before")}},
	}
	if err := k8s.Create(t.Context(), rel); err != nil {
		t.Fatal(err)
	}
	waitCond(t, teamB, "crash", platformv1.ConditionReady, metav1.ConditionTrue, 3*time.Minute)
	target := helmrun.Target{Namespace: teamB, Name: "crash", ServiceAccount: teamB + "/" + platformv1.ReleaseServiceAccount}
	last, err := runner.Last(target)
	if err != nil || last == nil {
		t.Fatal(last, err)
	}
	if err := runner.Interrupt(target, last, rcommon.StatusPendingUpgrade); err != nil {
		t.Fatal(err)
	}
	patchRelease(t, teamB, "crash", func(r *platformv1.ChartRelease) { r.Spec.Inputs[0] = input("greeting", "after") })
	got := waitCond(t, teamB, "crash", platformv1.ConditionRemediated, metav1.ConditionTrue, 3*time.Minute)
	if c := meta.FindStatusCondition(got.Status.Conditions, platformv1.ConditionRemediated); c.Reason != platformv1.ReasonUnlocked || !strings.Contains(c.Message, "pending-upgrade") {
		t.Errorf("Remediated = %+v", c)
	}
	got = waitCond(t, teamB, "crash", platformv1.ConditionReady, metav1.ConditionTrue, 3*time.Minute)
	if got.Status.Revision != 3 || deployment(t, teamB, "crash").Spec.Template.Annotations["webapp/greeting"] != "after" {
		t.Errorf("after the unlock: revision %d, history %+v", got.Status.Revision, got.Status.History)
	}
	if got.Status.History[1].Status != "failed" || !strings.Contains(got.Status.History[1].Description, "unlocked") {
		t.Errorf("the interrupted revision: %+v", got.Status.History[1])
	}
}

// TestOnePerClusterRefusesASecond: the second release of a OnePerCluster
// chart, in another namespace, is refused naming the first.
func TestOnePerClusterRefusesASecond(t *testing.T) {
	published(t, "solo", "0.1.0")
	for _, ns := range []string{teamA, teamB} {
		if err := k8s.Create(t.Context(), &platformv1.ChartRelease{ObjectMeta: metav1.ObjectMeta{Name: "solo", Namespace: ns},
			Spec: platformv1.ChartReleaseSpec{Chart: platformv1.ChartRef{Source: "local", Repository: "charts/solo"}}}); err != nil {
			t.Fatal(err)
		}
		if ns == teamA {
			waitCond(t, teamA, "solo", platformv1.ConditionReady, metav1.ConditionTrue, 3*time.Minute)
		}
	}
	second := waitCond(t, teamB, "solo", platformv1.ConditionReleased, metav1.ConditionFalse, time.Minute)
	c := meta.FindStatusCondition(second.Status.Conditions, platformv1.ConditionReleased)
	if c.Reason != platformv1.ReasonCardinality || !strings.Contains(c.Message, teamA+"/solo") || helmRevisions(t, teamB, "solo") != 0 {
		t.Errorf("second release: %+v, %d Helm revisions", c, helmRevisions(t, teamB, "solo"))
	}
}

// TestAttackerCharts: a chart binding itself to cluster-admin and one
// writing into another team's namespace are refused, naming the object,
// and nothing of theirs is created; even with Plattr's own check off,
// the ServiceAccount they run as cannot create those objects.
func TestAttackerCharts(t *testing.T) {
	published(t, "escalate", "0.1.0")
	published(t, "intruder", "0.1.0")
	for _, tc := range []struct{ chart, want string }{
		{"escalate", "ClusterRoleBinding.rbac.authorization.k8s.io escalate-cluster-admin, which is cluster-scoped"},
		{"intruder", "ConfigMap planted in namespace " + teamB + ", which is outside the release's namespace " + teamA},
	} {
		if err := k8s.Create(t.Context(), &platformv1.ChartRelease{ObjectMeta: metav1.ObjectMeta{Name: tc.chart, Namespace: teamA},
			Spec: platformv1.ChartReleaseSpec{Chart: platformv1.ChartRef{Source: "local", Repository: "charts/" + tc.chart}}}); err != nil {
			t.Fatal(err)
		}
		got := waitCond(t, teamA, tc.chart, platformv1.ConditionReleased, metav1.ConditionFalse, time.Minute)
		c := meta.FindStatusCondition(got.Status.Conditions, platformv1.ConditionReleased)
		if c.Reason != platformv1.ReasonObjectRefused || !strings.Contains(c.Message, tc.want) {
			t.Errorf("%s: Released = %+v, want it to say %q", tc.chart, c, tc.want)
		}
		if got.Status.Phase != platformv1.PhaseFailed {
			t.Errorf("%s: phase %s, want Failed (retrying cannot help)", tc.chart, got.Status.Phase)
		}
	}
	if err := k8s.Get(t.Context(), client.ObjectKey{Name: "escalate-cluster-admin"}, &rbacv1.ClusterRoleBinding{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ClusterRoleBinding exists: %v", err)
	}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: teamB, Name: "planted"}, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ConfigMap was planted in team b's namespace: %v", err)
	}

	// Defence in depth: the Helm SDK run with the check off (Trusted) but
	// as team a's plattr-release is refused by the API server.
	b, err := fetchChart(t, "escalate", "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := helmrun.LoadChart(b)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runner.Install(t.Context(), helmrun.Target{Namespace: teamA, Name: "escalate-direct", ServiceAccount: teamA + "/" + platformv1.ReleaseServiceAccount, Trusted: true}, ch, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("as plattr-release with the check off: %v, want forbidden", err)
	}
	if err := k8s.Get(t.Context(), client.ObjectKey{Name: "escalate-direct-cluster-admin"}, &rbacv1.ClusterRoleBinding{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ClusterRoleBinding exists: %v", err)
	}
	// And no ServiceAccount at all: the runner refuses to act as the operator.
	if _, err := runner.Install(t.Context(), helmrun.Target{Namespace: teamA, Name: "x"}, ch, nil, nil); err == nil || !strings.Contains(err.Error(), "refusing to run as the operator") {
		t.Errorf("without a ServiceAccount: %v", err)
	}
}

// TestInputsAreChecked: a missing required input, a sensitive one in the
// spec and a broken chart are refused before Helm runs, naming what to fix.
func TestInputsAreChecked(t *testing.T) {
	published(t, "webapp", "0.1.0")
	published(t, "broken", "0.1.0")
	for _, tc := range []struct {
		name   string
		spec   platformv1.ChartReleaseSpec
		cond   string
		reason string
		want   string
	}{
		{"missing", platformv1.ChartReleaseSpec{Chart: platformv1.ChartRef{Source: "local", Repository: "charts/webapp"}},
			platformv1.ConditionInputsValid, platformv1.ReasonInputsInvalid, "input greeting (Greeting) is required"},
		{"sensitive", platformv1.ChartReleaseSpec{Chart: platformv1.ChartRef{Source: "local", Repository: "charts/webapp"},
			Inputs: []platformv1.ChartInput{input("greeting", "x"), input("apiKey", "in-the-clear")}},
			platformv1.ConditionInputsValid, platformv1.ReasonInputsInvalid, "spec.inputs[apiKey]: the input is sensitive"},
		{"range", platformv1.ChartReleaseSpec{Chart: platformv1.ChartRef{Source: "local", Repository: "charts/webapp"},
			Inputs: []platformv1.ChartInput{input("greeting", "x"), input("replicas", 9)}},
			platformv1.ConditionInputsValid, platformv1.ReasonInputsInvalid, "input replicas: 9 is more than the maximum 3"},
		{"broken", platformv1.ChartReleaseSpec{Chart: platformv1.ChartRef{Source: "local", Repository: "charts/broken"}},
			platformv1.ConditionReleased, platformv1.ReasonChartInvalid, "values.ui.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "in-" + tc.name
			if err := k8s.Create(t.Context(), &platformv1.ChartRelease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: teamB}, Spec: tc.spec}); err != nil {
				t.Fatal(err)
			}
			got := waitCond(t, teamB, name, tc.cond, metav1.ConditionFalse, time.Minute)
			c := meta.FindStatusCondition(got.Status.Conditions, tc.cond)
			if c.Reason != tc.reason || !strings.Contains(c.Message, tc.want) || helmRevisions(t, teamB, name) != 0 {
				t.Errorf("%s = %+v (want %s saying %q); %d Helm revisions", tc.cond, c, tc.reason, tc.want, helmRevisions(t, teamB, name))
			}
		})
	}
}

// fetchChart pulls a pushed chart's archive from the test registry.
func fetchChart(t *testing.T, chart, version string) ([]byte, error) {
	t.Helper()
	for _, cv := range versionsOf(t, "local") {
		if cv.Spec.Repository == "charts/"+chart && cv.Spec.Version == version {
			o := &discovery.OCI{Spec: platformv1.ChartSourceOCI{Registry: regHost, PlainHTTP: true}}
			f, err := o.Inspect(t.Context(), cv.Spec.Repository, version, cv.Spec.Digest)
			if err != nil {
				return nil, err
			}
			return o.Pull(t.Context(), f, 10<<20)
		}
	}
	return nil, fmt.Errorf("%s %s not discovered", chart, version)
}

// TestSecretOutputNeverOverwritesAForeignSecret: the chart's Secret output
// names a Secret someone else made: SecretConflict, the Secret untouched,
// nothing installed.
func TestSecretOutputNeverOverwritesAForeignSecret(t *testing.T) {
	published(t, "webapp", "0.1.0")
	const ns = "team-c-staging"
	if err := k8s.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue, platformv1.LabelTenant: "team-c"}}}); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"webapp-api": "theirs", "key-src": "mine"} {
		if err := k8s.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			StringData: map[string]string{"API_KEY": data}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := k8s.Create(t.Context(), &platformv1.ChartRelease{ObjectMeta: metav1.ObjectMeta{Name: "thief", Namespace: ns},
		Spec: platformv1.ChartReleaseSpec{Chart: platformv1.ChartRef{Source: "local", Repository: "charts/webapp"},
			Inputs: []platformv1.ChartInput{input("greeting", "x"),
				{Name: "apiKey", ValueFrom: &platformv1.ChartInputSource{SecretKeyRef: &platformv1.SecretKeyRef{Name: "key-src", Key: "API_KEY"}}}}}}); err != nil {
		t.Fatal(err)
	}
	got := waitCond(t, ns, "thief", platformv1.ConditionReleased, metav1.ConditionFalse, time.Minute)
	c := meta.FindStatusCondition(got.Status.Conditions, platformv1.ConditionReleased)
	if c.Reason != platformv1.ReasonSecretConflict || !strings.Contains(c.Message, "webapp-api") {
		t.Errorf("Released = %+v", c)
	}
	s := &corev1.Secret{}
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "webapp-api"}, s); err != nil || string(s.Data["API_KEY"]) != "theirs" || len(s.OwnerReferences) != 0 {
		t.Errorf("the foreign Secret was touched: %v %v %v", err, s.Data, s.OwnerReferences)
	}
	if n := helmRevisions(t, ns, "thief"); n != 0 {
		t.Errorf("%d Helm revisions, want none", n)
	}
}
