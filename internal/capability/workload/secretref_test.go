package workload_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/capability/workload"
)

const loot = "s3cr3t-value"

func ownedBy(kind, apiVersion, name string, controller bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: ptr.To(controller)}
}

var app = platformv1.GroupVersion.String()

// Which Secrets envVars of app "web" may read, in its namespace and when a
// preview copies them.
func TestEnvVarsReadOnlyTheAppsOwnOrSharedSecrets(t *testing.T) {
	plattr := map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue}
	tests := []struct {
		name        string
		secret      corev1.Secret
		allowed     bool
		copyAllowed bool // when a preview copies it; defaults to allowed
		copySet     bool
		why         string // the message says this
	}{
		{name: "a user Secret without an owner", allowed: true},
		{name: "a user Secret labelled for the app",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{platformv1.LabelApp: "web"}}}, allowed: true},
		{name: "a user Secret the app owns",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{ownedBy("Application", app, "web", false)}}}, allowed: true},
		{name: "a Secret another operator owns (a database cluster's credentials)",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{ownedBy("Cluster", "postgresql.cnpg.io/v1", "pg", true)}}}, allowed: true},
		{name: "an Argo CD Application is not a Plattr one",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{ownedBy("Application", "argoproj.io/v1alpha1", "api", true)}}}, allowed: true},
		{name: "the app's own Plattr credentials: harmless here, never copied",
			secret:  corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: plattr, OwnerReferences: []metav1.OwnerReference{ownedBy("Application", app, "web", true)}}},
			allowed: true, copySet: true, copyAllowed: false, why: "never gets a copy"},
		{name: "another app's Plattr credentials",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: plattr, OwnerReferences: []metav1.OwnerReference{ownedBy("Application", app, "api", true)}}},
			why:    "Plattr manages for api"},
		{name: "another app's Plattr credentials, even if marked shared",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: plattr, OwnerReferences: []metav1.OwnerReference{ownedBy("Application", app, "api", true)}, Annotations: map[string]string{platformv1.AnnotationSharedWith: "web"}}},
			why:    "never shared"},
		{name: "a Secret Plattr manages for no app",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: plattr}}, why: "Plattr manages"},
		{name: "a user Secret another app owns",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{ownedBy("Application", app, "api", false)}}},
			why:    "belongs to Application api"},
		{name: "a user Secret another app owns, shared with the app",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{ownedBy("Application", app, "api", false)}, Annotations: map[string]string{platformv1.AnnotationSharedWith: "worker, web"}}}, allowed: true},
		{name: "a user Secret another app owns, shared with another",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{ownedBy("Application", app, "api", false)}, Annotations: map[string]string{platformv1.AnnotationSharedWith: "webx,worker"}}}, why: "belongs to Application api"},
		{name: "a user Secret labelled for another app",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{platformv1.LabelApp: "api"}}}, why: "platform.internal/app=api"},
		{name: "a service account's token",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.ServiceAccountNameKey: "deployer"}}, Type: corev1.SecretTypeServiceAccountToken},
			why:    "token of service account deployer"},
		{name: "a service account's token, shared with the app",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.ServiceAccountNameKey: "deployer", platformv1.AnnotationSharedWith: "web"}},
				Type: corev1.SecretTypeServiceAccountToken}, allowed: true},
		{name: "a Helm release's record",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"owner": "helm"}}, Type: "helm.sh/release.v1"}, why: "Helm release"},
		{name: "a key cert-manager issued",
			secret: corev1.Secret{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"cert-manager.io/certificate-name": "api-tls"}}, Type: corev1.SecretTypeTLS},
			why:    "certificate api-tls"},
	}
	for _, tt := range tests {
		for _, copying := range []bool{false, true} {
			want := tt.allowed
			if copying && tt.copySet {
				want = tt.copyAllowed
			}
			name := tt.name
			if copying {
				name += " (preview)"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				secret := tt.secret.DeepCopy()
				secret.Namespace, secret.Name = "shop", "creds"
				if secret.Type == "" {
					secret.Type = corev1.SecretTypeOpaque
				}
				secret.Data = map[string][]byte{"k": []byte(loot)}
				env := capabilitytest.NewEnv(t, secret)
				c := &workload.Capability{Kube: env.Kube}
				owner := capabilitytest.App("shop", "web")
				target := capabilitytest.Target(owner)
				s := spec()
				s.EnvVars = []platformv1.EnvVar{{Name: "PLAIN", Value: "1"}, {Name: "CREDS", SecretKeyRef: &platformv1.SecretKeySelector{Name: "creds", Key: "k"}}}
				if copying {
					target.Namespace, s.SecretsNamespace = "preview-web-pr-1", "shop"
				}
				_, err := c.Ensure(ctx, target, s)
				cond := capabilitytest.Condition(t, owner, platformv1.ConditionDeploymentReady)
				refs, held := envOf(t, env, target.Namespace)
				if want {
					if err != nil || cond.Reason == platformv1.ReasonSecretNotAllowed {
						t.Fatalf("refused: %v (%s)", err, cond.Message)
					}
					if refs["CREDS"] == "" {
						t.Errorf("CREDS is not in the pods: %v", refs)
					}
					return
				}
				if !capability.IsTerminal(err) {
					t.Errorf("error %v, want a terminal one", err)
				}
				if cond.Reason != platformv1.ReasonSecretNotAllowed || !strings.Contains(cond.Message, "spec.envVars[1].secretKeyRef") ||
					!strings.Contains(cond.Message, tt.why) {
					t.Errorf("DeploymentReady %s: %s; want %s naming spec.envVars[1].secretKeyRef and %q", cond.Reason, cond.Message, platformv1.ReasonSecretNotAllowed, tt.why)
				}
				if strings.Contains(cond.Message, loot) {
					t.Error("the message holds the value")
				}
				if refs["CREDS"] != "" || held {
					t.Errorf("the refused value reached the pods: env %v, copied %v", refs, held)
				}
				if refs["PLAIN"] == "" {
					t.Errorf("the other variables are not in the pods: %v", refs)
				}
				writes := env.Writes()
				if _, err := c.Ensure(ctx, target, s); !capability.IsTerminal(err) {
					t.Errorf("the second pass: %v", err)
				}
				if n := env.Writes() - writes; n != 0 {
					t.Errorf("the refused workload wrote %d times on the second pass", n)
				}
			})
		}
	}
}

// A reference that was allowed, then refused (the opt-in taken back, or a
// Deployment from before this check), leaves the pods and the preview's copy.
func TestARefusedReferenceLeavesThePodsAndTheCopy(t *testing.T) {
	for _, copying := range []bool{false, true} {
		ctx := context.Background()
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "creds",
			OwnerReferences: []metav1.OwnerReference{ownedBy("Application", app, "api", false)},
			Annotations:     map[string]string{platformv1.AnnotationSharedWith: "web"}},
			Data: map[string][]byte{"k": []byte(loot)}}
		env := capabilitytest.NewEnv(t, secret)
		c := &workload.Capability{Kube: env.Kube}
		owner := capabilitytest.App("shop", "web")
		target := capabilitytest.Target(owner)
		s := spec()
		s.EnvVars = []platformv1.EnvVar{{Name: "CREDS", SecretKeyRef: &platformv1.SecretKeySelector{Name: "creds", Key: "k"}}}
		if copying {
			target.Namespace, s.SecretsNamespace = "preview-web-pr-1", "shop"
		}
		if _, err := c.Ensure(ctx, target, s); err != nil {
			t.Fatal(err)
		}
		if refs, _ := envOf(t, env, target.Namespace); refs["CREDS"] == "" {
			t.Fatalf("copying %v: CREDS not in the pods while shared: %v", copying, refs)
		}
		secret.Annotations = nil
		if err := env.Client.Update(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Ensure(ctx, target, s); !capability.IsTerminal(err) {
			t.Fatalf("copying %v: %v, want refused", copying, err)
		}
		if refs, held := envOf(t, env, target.Namespace); refs["CREDS"] != "" || held {
			t.Errorf("copying %v: the reference stayed after the opt-in went: env %v, copied %v", copying, refs, held)
		}
	}
}

// envOf returns the app container's secretKeyRef variables (name → Secret)
// and whether any Secret of ns holds the loot (a preview's copy).
func envOf(t *testing.T, env *capabilitytest.Env, ns string) (map[string]string, bool) {
	t.Helper()
	ctx := context.Background()
	refs := map[string]string{}
	d := &appsv1.Deployment{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, d); err == nil {
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			switch {
			case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				refs[e.Name] = e.ValueFrom.SecretKeyRef.Name
			case e.Value != "":
				refs[e.Name] = "(value)"
			}
		}
	}
	list := &corev1.SecretList{}
	if err := env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	held := false
	for _, s := range list.Items {
		for _, v := range s.Data {
			if ns != "shop" && strings.Contains(string(v), loot) {
				held = true
			}
		}
	}
	return refs, held
}
