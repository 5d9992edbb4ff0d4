package platformapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

func deleteTenantLater(t *testing.T, name string) {
	t.Cleanup(func() {
		_ = kube.Delete(context.Background(), &platformv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
}

// A signed-in user who is not a site admin creates at most the per-user
// number of tenants (3, the default); the next is refused, naming the
// limit and who can raise it, and nothing is written; once one of theirs
// is gone they may create another; a site admin is not limited.
func TestTenantCreationIsLimitedPerUser(t *testing.T) {
	ctx := context.Background()
	u := asUser(t, "hoarder@many.test")
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("hoard-%d", i)
		u.must(t, 201, "POST", "/api/v1/tenants", map[string]any{"name": name, "environments": []string{"staging"}}, nil)
		deleteTenantLater(t, name)
	}
	code, body := u.do(t, "POST", "/api/v1/tenants", map[string]any{"name": "hoard-4", "environments": []string{"staging"}}, nil)
	deleteTenantLater(t, "hoard-4")
	if code != 403 || !strings.Contains(body, "3 tenants") || !strings.Contains(body, "site admin") {
		t.Fatalf("fourth tenant: HTTP %d %s", code, body)
	}
	if err := kube.Get(ctx, client.ObjectKey{Name: "hoard-4"}, &platformv1.Tenant{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the fourth tenant was created (%v)", err)
	}
	// One gone (all the way): a slot is free again.
	u.must(t, 204, "DELETE", "/api/v1/tenants/hoard-1", nil, nil)
	eventually(t, 60*time.Second, "hoard-1 gone", func() error {
		if err := kube.Get(ctx, client.ObjectKey{Name: "hoard-1"}, &platformv1.Tenant{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	eventually(t, 10*time.Second, "hoard-4 accepted", func() error {
		if code, body := u.do(t, "POST", "/api/v1/tenants", map[string]any{"name": "hoard-4", "environments": []string{"staging"}}, nil); code != 201 {
			return fmt.Errorf("HTTP %d %s", code, body)
		}
		return nil
	})
	a := admin(t)
	a.must(t, 201, "POST", "/api/v1/tenants", map[string]any{"name": "hoard-admin", "environments": []string{"staging"}}, nil)
	deleteTenantLater(t, "hoard-admin")
}

// The large quota needs a site admin: a user asking for it, at creation or
// later, is refused with who may grant it, and the tenant keeps its quota;
// a site admin grants it.
func TestLargeQuotaNeedsASiteAdmin(t *testing.T) {
	ctx := context.Background()
	u := asUser(t, "greedy@big.test")
	code, body := u.do(t, "POST", "/api/v1/tenants", map[string]any{"name": "greedy", "environments": []string{"staging"}, "quota": "large"}, nil)
	deleteTenantLater(t, "greedy")
	if code != 403 || !strings.Contains(body, "large") || !strings.Contains(body, "site admin") {
		t.Fatalf("large quota by a user: HTTP %d %s", code, body)
	}
	if err := kube.Get(ctx, client.ObjectKey{Name: "greedy"}, &platformv1.Tenant{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the tenant was created with the large quota (%v)", err)
	}
	u.must(t, 201, "POST", "/api/v1/tenants", map[string]any{"name": "greedy", "environments": []string{"staging"}, "quota": "medium"}, nil)
	code, body = u.do(t, "PUT", "/api/v1/tenants/greedy", map[string]any{"environments": []string{"staging"}, "quota": "large",
		"members": []map[string]string{{"email": "greedy@big.test", "role": "Admin"}}}, nil)
	if code != 403 || !strings.Contains(body, "site admin") {
		t.Fatalf("raising to large by the tenant's Admin: HTTP %d %s", code, body)
	}
	live := &platformv1.Tenant{}
	if err := kube.Get(ctx, client.ObjectKey{Name: "greedy"}, live); err != nil || live.Spec.Quota != platformv1.TenantQuotaMedium {
		t.Fatalf("quota %q (%v), want medium", live.Spec.Quota, err)
	}
	a := admin(t)
	a.must(t, 200, "PUT", "/api/v1/tenants/greedy", map[string]any{"environments": []string{"staging"}, "quota": "large",
		"members": []map[string]string{{"email": "greedy@big.test", "role": "Admin"}}}, nil)
	if err := kube.Get(ctx, client.ObjectKey{Name: "greedy"}, live); err != nil || live.Spec.Quota != platformv1.TenantQuotaLarge {
		t.Fatalf("quota %q (%v) after the site admin's grant, want large", live.Spec.Quota, err)
	}
	// The Admin may keep editing other fields while the quota stays large.
	u.must(t, 200, "PUT", "/api/v1/tenants/greedy", map[string]any{"environments": []string{"staging"}, "quota": "large", "displayName": "Greedy",
		"members": []map[string]string{{"email": "greedy@big.test", "role": "Admin"}}}, nil)
}
