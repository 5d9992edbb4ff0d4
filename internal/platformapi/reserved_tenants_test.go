package platformapi_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// A tenant named after an environment would share hosts and namespaces
// with it (<app>.staging.<BASE_DOMAIN> is both shared staging's web and
// tenant staging's production web): the API refuses the name, naming the
// field, and so does the CRD for a Tenant written with kubectl.
func TestReservedTenantNamesAreRefused(t *testing.T) {
	ctx := context.Background()
	mallory := asUser(t, "mallory@evil.test")
	for _, name := range platformv1.ReservedTenantNames {
		code, body := mallory.do(t, "POST", "/api/v1/tenants", map[string]any{"name": name}, nil)
		if code != 400 || !strings.Contains(body, `"name"`) || !strings.Contains(body, "reserved") {
			t.Errorf("POST tenant %s: HTTP %d %s; want 400 naming the field", name, code, body)
		}
		if err := kube.Get(ctx, client.ObjectKey{Name: name}, &platformv1.Tenant{}); !apierrors.IsNotFound(err) {
			t.Errorf("tenant %s exists after the refusal (%v)", name, err)
		}
	}
	err := kube.Create(ctx, &platformv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "preview"},
		Spec: platformv1.TenantSpec{Environments: []platformv1.Environment{platformv1.EnvironmentStaging}}})
	if err == nil || !strings.Contains(err.Error(), "metadata.name is reserved") {
		t.Errorf("kubectl-style create of tenant preview: %v; want the CRD's refusal", err)
	}
}
