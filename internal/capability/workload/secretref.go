package workload

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Which Secrets an app's envVars may read. The one who writes an app's
// spec (an app Maintainer, in the platform API's roles) is not trusted with
// the namespace's other credentials, so a secretKeyRef may name only a
// Secret of the namespace's own (no owner) or of this app, or one whose
// writer shared it with this app. Whoever can write a Secret can read it
// already, so the opt-in annotation is theirs to give; the marks that refuse
// (an owner, a label) cannot help an attacker who adds them.

// Secret types that are never the app's own unless shared.
const (
	// secretTypeHelmRelease is a Helm release's record: its manifest and
	// values, passwords included.
	secretTypeHelmRelease corev1.SecretType = "helm.sh/release.v1"
	// annotationCertManagerCertificate marks a key pair cert-manager issued
	// (an app's <app>-tls among them).
	annotationCertManagerCertificate = "cert-manager.io/certificate-name"
)

// notAllowed says why envVars of app may not read secret, or "" when they
// may. copying: the value would be copied into another namespace (a
// preview's), where not even the app's own Plattr credentials go.
func notAllowed(secret *corev1.Secret, app string, copying bool) (why, fix string) {
	share := fmt.Sprintf("ask whoever owns it to share it with %s (annotation %s: %s on the Secret), or reference a Secret of your own",
		app, platformv1.AnnotationSharedWith, app)
	if secret.Labels[platformv1.LabelManagedBy] == platformv1.ManagedByValue {
		owner := applicationController(secret)
		switch {
		case owner == app && !copying:
			return "", "" // the app's own credentials: in its environment already
		case owner == app:
			return fmt.Sprintf("it holds Plattr's credentials of %s, which a preview never gets a copy of (it has its own)", app),
				"remove the reference from spec.envVars"
		case owner == "":
			owner = secret.Labels[platformv1.LabelApp]
		}
		return fmt.Sprintf("it holds credentials Plattr manages for %s", orSomeoneElse(owner)),
			"Plattr's credentials are never shared between apps (each app gets its own database, storage and auth); remove the reference"
	}
	if sharedWith(secret, app) {
		return "", ""
	}
	for _, o := range secret.OwnerReferences {
		if isApplication(o.APIVersion, o.Kind) && o.Name != app {
			return "it belongs to Application " + o.Name, share
		}
	}
	if other := secret.Labels[platformv1.LabelApp]; other != "" && other != app {
		return fmt.Sprintf("it is labelled %s=%s", platformv1.LabelApp, other), share
	}
	switch {
	case secret.Type == corev1.SecretTypeServiceAccountToken:
		return fmt.Sprintf("it is a token of service account %s", orSomeoneElse(secret.Annotations[corev1.ServiceAccountNameKey])), share
	case secret.Type == secretTypeHelmRelease:
		return "it is a Helm release's record", share
	case secret.Annotations[annotationCertManagerCertificate] != "":
		return fmt.Sprintf("it is the key of certificate %s, issued by cert-manager", secret.Annotations[annotationCertManagerCertificate]), share
	}
	return "", ""
}

// sharedWith: the Secret's opt-in lists app.
func sharedWith(secret *corev1.Secret, app string) bool {
	for _, name := range strings.Split(secret.Annotations[platformv1.AnnotationSharedWith], ",") {
		if strings.TrimSpace(name) == app {
			return true
		}
	}
	return false
}

// applicationController is the Application controlling obj, "" if none.
func applicationController(secret *corev1.Secret) string {
	for _, o := range secret.OwnerReferences {
		if o.Controller != nil && *o.Controller && isApplication(o.APIVersion, o.Kind) {
			return o.Name
		}
	}
	return ""
}

// isApplication: a Plattr Application (not, say, Argo CD's).
func isApplication(apiVersion, kind string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && kind == "Application" && gv.Group == platformv1.GroupVersion.Group
}

func orSomeoneElse(name string) string {
	if name == "" {
		return "someone else"
	}
	return name
}
