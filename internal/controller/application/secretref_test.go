package application_test

// envVars[].secretKeyRef and the tenant boundary (issue "Tenant boundary in
// the operator"): an app's Maintainer sets only the app's spec, and must not
// read another app's credentials through it — nor through a preview, which
// copies the values it references into its own namespace.

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// secretRefs names every place the pods of Deployment ns/name, and the pods
// themselves, read Secret secret: an env var's secretKeyRef or an envFrom.
func secretRefs(t testing.TB, ns, name, secret string) []string {
	t.Helper()
	ctx := context.Background()
	var specs []corev1.PodSpec
	var whose []string
	d := &appsv1.Deployment{}
	switch err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); {
	case err == nil:
		specs, whose = append(specs, d.Spec.Template.Spec), append(whose, "Deployment "+name)
	case !isNotFound(err):
		t.Fatal(err)
	}
	pods := &corev1.PodList{}
	if err := k8s.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{platformv1.LabelApp: name}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		specs, whose = append(specs, p.Spec), append(whose, "Pod "+p.Name)
	}
	var out []string
	for i, spec := range specs {
		for _, c := range spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == secret {
					out = append(out, fmt.Sprintf("%s container %s env %s", whose[i], c.Name, e.Name))
				}
			}
			for _, e := range c.EnvFrom {
				if e.SecretRef != nil && e.SecretRef.Name == secret {
					out = append(out, fmt.Sprintf("%s container %s envFrom", whose[i], c.Name))
				}
			}
		}
	}
	return out
}

// secretsHolding names the Secrets of ns whose data contains value.
func secretsHolding(t testing.TB, ns string, value []byte) []string {
	t.Helper()
	list := &corev1.SecretList{}
	if err := k8s.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list.Items {
		for k, v := range s.Data {
			if bytes.Contains(v, value) {
				out = append(out, s.Name+"/"+k)
			}
		}
	}
	return out
}

// refused checks DeploymentReady=False, SecretNotAllowed, naming field.
func refused(c metav1.Condition, field string) error {
	if c.Status != metav1.ConditionFalse || c.Reason != platformv1.ReasonSecretNotAllowed || !strings.Contains(c.Message, field) {
		return fmt.Errorf("DeploymentReady %s/%s: %s; want False/%s naming %s", c.Status, c.Reason, c.Message, platformv1.ReasonSecretNotAllowed, field)
	}
	return nil
}

// writesIn counts the operator's writes in a writeCounter snapshot that
// touch namespace ns (applies included).
func writesIn(snapshot map[string]int, ns string) (int, []string) {
	n, what := 0, []string(nil)
	for k, c := range snapshot {
		if strings.Contains(k, " "+ns+"/") {
			n += c
			what = append(what, fmt.Sprintf("%s ×%d", k, c))
		}
	}
	return n, what
}

func secretRef(name, secret, key string) platformv1.EnvVar {
	return platformv1.EnvVar{Name: name, SecretKeyRef: &platformv1.SecretKeySelector{Name: secret, Key: key}}
}

func withoutDatabase(a *platformv1.Application) { a.Spec.Database = nil }

// The attacker: a Maintainer of thief, in victim's namespace, points an
// envVar at victim's database Secret, to print it from thief's image.
func TestAnAppCannotReadAnotherAppsPlattrSecret(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "victim"))
	waitSettled(t, ns, "victim")
	loot := secretData(t, ns, "victim-db")[platformv1.KeyDatabaseURL]

	create(t, newApp(ns, "thief", withoutDatabase, func(a *platformv1.Application) {
		a.Spec.EnvVars = []platformv1.EnvVar{secretRef("LOOT", "victim-db", platformv1.KeyDatabaseURL)}
	}))
	noLoot := func() {
		t.Helper()
		if refs := secretRefs(t, ns, "thief", "victim-db"); len(refs) > 0 {
			t.Fatalf("thief reads victim's database Secret: %v", refs)
		}
	}
	var app *platformv1.Application
	eventually(t, runningTimeout, "thief to be refused", func() error {
		noLoot()
		app = getApp(t, ns, "thief")
		if err := refused(condition(app, platformv1.ConditionDeploymentReady), "spec.envVars[0].secretKeyRef"); err != nil {
			return err
		}
		if app.Status.Phase != platformv1.PhaseFailed {
			return fmt.Errorf("phase %s, want Failed", app.Status.Phase)
		}
		return nil
	})
	msg := condition(app, platformv1.ConditionDeploymentReady).Message
	if strings.Contains(msg, string(loot)) {
		t.Fatal("the condition message holds the Secret's value")
	}
	t.Logf("DeploymentReady: %s", msg)

	// Refused the same way again and again: backing off, writing nothing.
	eventually(t, runningTimeout, "failedAttempts to stop", func() error {
		if n := getApp(t, ns, "thief").Status.FailedAttempts; n != 3 {
			return fmt.Errorf("failedAttempts %d", n)
		}
		return nil
	})
	time.Sleep(time.Second)
	mark := writes.mark()
	time.Sleep(6 * time.Second)
	if n, what := writesIn(writes.since(mark), ns); n > 0 {
		t.Errorf("the refused app wrote %d times in 6 s: %v", n, what)
	}
	noLoot()

	// The reference removed, thief runs.
	setEnvVars(t, ns, "thief")
	waitSettled(t, ns, "thief")
	noLoot()
}

// A user Secret without an owner is the namespace's to use; one another
// Application owns needs that Application's opt-in naming the reader; taking
// the opt-in back takes the variable out of the pods again.
func TestEnvVarsReadUserSecretsAndSecretsSharedWithTheApp(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "keeper", withoutDatabase))
	keeper := waitSettled(t, ns, "keeper")
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"}, StringData: map[string]string{"t": "plain-token"}})
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kept", OwnerReferences: []metav1.OwnerReference{{
		APIVersion: platformv1.GroupVersion.String(), Kind: "Application", Name: "keeper", UID: keeper.UID,
	}}}, StringData: map[string]string{"t": "keepers-token"}})

	create(t, newApp(ns, "reader", withoutDatabase, func(a *platformv1.Application) {
		a.Spec.EnvVars = []platformv1.EnvVar{secretRef("PLAIN", "plain", "t"), secretRef("KEPT", "kept", "t")}
	}))
	noKept := func() {
		t.Helper()
		if refs := secretRefs(t, ns, "reader", "kept"); len(refs) > 0 {
			t.Fatalf("reader reads keeper's Secret without its opt-in: %v", refs)
		}
	}
	eventually(t, runningTimeout, "reader to be refused kept", func() error {
		noKept()
		return refused(condition(getApp(t, ns, "reader"), platformv1.ConditionDeploymentReady), "spec.envVars[1].secretKeyRef")
	})

	// keeper shares kept with reader: reader runs with it, woken by the
	// Secret's change (its backoff is longer by now).
	share := func(apps string) {
		update(t, client.ObjectKey{Namespace: ns, Name: "kept"}, &corev1.Secret{}, func(s *corev1.Secret) {
			if apps == "" {
				delete(s.Annotations, platformv1.AnnotationSharedWith)
				return
			}
			s.Annotations = map[string]string{platformv1.AnnotationSharedWith: apps}
		})
	}
	share("someone-else")
	time.Sleep(2 * time.Second)
	noKept()
	share("someone-else, reader")
	waitSettled(t, ns, "reader")
	if refs := secretRefs(t, ns, "reader", "kept"); len(refs) == 0 {
		t.Error("reader does not read kept, shared with it")
	}
	if refs := secretRefs(t, ns, "reader", "plain"); len(refs) == 0 {
		t.Error("reader does not read plain, a user Secret without an owner")
	}

	// The opt-in taken back: refused again, and the variable leaves the pods.
	share("")
	eventually(t, runningTimeout, "reader to be refused kept again, without it", func() error {
		if refs := secretRefs(t, ns, "reader", "kept"); len(refs) > 0 {
			return fmt.Errorf("reader still reads kept: %v", refs)
		}
		return refused(condition(getApp(t, ns, "reader"), platformv1.ConditionDeploymentReady), "spec.envVars[1].secretKeyRef")
	})
	if refs := secretRefs(t, ns, "reader", "plain"); len(refs) == 0 {
		t.Error("refusing kept dropped plain too")
	}
	setEnvVars(t, ns, "reader", secretRef("PLAIN", "plain", "t"))
	waitSettled(t, ns, "reader")
}

// A preview copies the values its parent's envVars reference into its own
// namespace: never another app's Secret, and never Plattr's credentials of
// the parent itself (the preview has its own).
func TestAPreviewNeverCopiesAnotherAppsOrItsParentsPlattrSecrets(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "pvvictim"))
	waitSettled(t, ns, "pvvictim")
	loot := secretData(t, ns, "pvvictim-db")[platformv1.KeyDatabaseURL]

	create(t, newApp(ns, "pvthief", withoutDatabase, func(a *platformv1.Application) {
		a.Spec.EnvVars = []platformv1.EnvVar{secretRef("LOOT", "pvvictim-db", platformv1.KeyDatabaseURL)}
	}))
	create(t, newApp(ns, "pvown", func(a *platformv1.Application) {
		a.Spec.EnvVars = []platformv1.EnvVar{secretRef("OWN_URL", "pvown-db", platformv1.KeyDatabaseURL)}
	}))
	// Its own Plattr Secret, in its own namespace: pointless, harmless.
	waitSettled(t, ns, "pvown")
	parentURL := secretData(t, ns, "pvown-db")[platformv1.KeyDatabaseURL]

	create(t, newPreview(ns, "pvthief", 1))
	create(t, newPreview(ns, "pvown", 1))
	for _, c := range []struct {
		preview, previewNS string
		value              []byte
	}{
		{"pvthief-pr-1", "preview-pvthief-pr-1", loot},
		{"pvown-pr-1", "preview-pvown-pr-1", parentURL},
	} {
		eventually(t, runningTimeout, c.preview+" to be refused", func() error {
			if err := k8s.Get(context.Background(), client.ObjectKey{Name: c.previewNS}, &corev1.Namespace{}); err == nil {
				if held := secretsHolding(t, c.previewNS, c.value); len(held) > 0 {
					t.Fatalf("preview %s copied the value into %v", c.preview, held)
				}
			}
			pe := getPreview(t, ns, c.preview)
			cond := metav1.Condition{Status: "Missing"}
			for _, pc := range pe.Status.Conditions {
				if pc.Type == platformv1.ConditionDeploymentReady {
					cond = pc
				}
			}
			return refused(cond, "spec.envVars[0].secretKeyRef")
		})
		time.Sleep(2 * time.Second) // a few more passes
		if held := secretsHolding(t, c.previewNS, c.value); len(held) > 0 {
			t.Fatalf("preview %s copied the value into %v", c.preview, held)
		}
	}
}
