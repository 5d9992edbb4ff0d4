package nats

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// With spec.messaging enabled the platform sets NATS_URL and NATS_CREDS;
// an envVars entry of those names would be a second, conflicting value
// (the container sees the last), so admission refuses it naming the field.
// Without messaging the names are the app's own (its own NATS server).
func TestAppCannotShadowItsNATSEnv(t *testing.T) {
	makeNamespace(t, "team-env", nil)
	app := func(messaging bool, name string) *platformv1.Application {
		a := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "team-env", Name: "envs"},
			Spec: platformv1.ApplicationSpec{Repository: "https://git.example.com/team/envs", ImageRef: "registry.example.com/envs:1", Framework: "docker",
				Environment: "staging", EnvVars: []platformv1.EnvVar{{Name: name, Value: "nats://elsewhere:4222"}}}}
		if messaging {
			a.Spec.Messaging = &platformv1.MessagingSpec{Enabled: true}
		}
		return a
	}
	for _, name := range []string{"NATS_URL", "NATS_CREDS"} {
		err := k8s.Create(t.Context(), app(true, name), client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "spec.envVars: NATS_URL and NATS_CREDS are set by the platform") {
			t.Errorf("%s with messaging enabled: err = %v, want the refusal naming spec.envVars", name, err)
		}
		if err := k8s.Create(t.Context(), app(false, name), client.DryRunAll); err != nil {
			t.Errorf("%s without messaging: %v, want it accepted (the app's own NATS server)", name, err)
		}
	}
}
