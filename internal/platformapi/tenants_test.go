package platformapi_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

type tenantView struct {
	Name       string
	Phase      string
	Members    []platformv1.TenantMember
	Namespaces []platformv1.TenantNamespace
}

func waitTenant(t *testing.T, c *caller, name string) tenantView {
	t.Helper()
	var tv tenantView
	eventually(t, 30*time.Second, "tenant "+name+" Running", func() error {
		c.must(t, 200, "GET", "/api/v1/tenants/"+name, nil, &tv)
		if tv.Phase != "Running" {
			return fmt.Errorf("phase %q", tv.Phase)
		}
		return nil
	})
	return tv
}

// Self-service tenants: a user creates one through the API; the operator
// makes its namespaces with quota, limits, network policy, the team's RBAC
// and monitoring labels; its members get their roles in the API; two
// tenants both run an app called web in staging without sharing a name;
// deleting a tenant removes its namespaces.
func TestTenantSelfServiceAndIsolation(t *testing.T) {
	ctx := context.Background()
	alice := asUser(t, "alice@alpha.test")
	bea := asUser(t, "bea@beta.test")

	// Bad input names the field, and nothing is created.
	code, body := alice.do(t, "POST", "/api/v1/tenants", map[string]any{"name": "alpha", "quota": "huge"}, nil)
	if code != 422 || !strings.Contains(body, "spec.quota") {
		t.Fatalf("bad quota: HTTP %d %s", code, body)
	}
	code, body = alice.do(t, "POST", "/api/v1/tenants", map[string]any{"name": "Alpha Team"}, nil)
	if code != 422 || !strings.Contains(body, "metadata.name") {
		t.Fatalf("bad name: HTTP %d %s", code, body)
	}

	aliceEvents, stopA := subscribe(t, alice, "")
	defer stopA()
	beaEvents, stopB := subscribe(t, bea, "")
	defer stopB()
	var created tenantView
	alice.must(t, 201, "POST", "/api/v1/tenants", map[string]any{
		"name": "alpha", "displayName": "Team Alpha", "environments": []string{"staging"}, "quota": "small",
		"members": []map[string]string{{"email": "al@alpha.test", "role": "User"}},
	}, &created)
	bea.must(t, 201, "POST", "/api/v1/tenants", map[string]any{"name": "beta", "environments": []string{"staging"}}, nil)
	t.Cleanup(func() {
		// Gone before the test ends, so it runs again (go test -count=2).
		_ = kube.Delete(ctx, &platformv1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "beta"}})
		eventually(t, 90*time.Second, "beta gone", func() error {
			if err := kube.Get(ctx, client.ObjectKey{Name: "beta"}, &platformv1.Tenant{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("tenant: %v", err)
			}
			return nil
		})
	})
	if code, _ := alice.do(t, "POST", "/api/v1/tenants", map[string]any{"name": "alpha"}, nil); code != 409 {
		t.Fatalf("second alpha: HTTP %d", code)
	}
	tv := waitTenant(t, alice, "alpha")
	waitTenant(t, bea, "beta")
	// The tenant's changes are on its members' streams only.
	next(t, aliceEvents, 5*time.Second, func(e sse) bool { return e.Kind == "tenant" && e.Data.App == "alpha" && field(e, "phase") == "Running" })
	next(t, beaEvents, 5*time.Second, func(e sse) bool {
		if e.Kind == "tenant" && e.Data.App == "alpha" {
			t.Errorf("bea received alpha's event %s", e.Data.Data)
		}
		return e.Kind == "tenant" && e.Data.App == "beta" && field(e, "phase") == "Running"
	})
	none(t, beaEvents, 300*time.Millisecond, func(e sse) bool { return e.Kind == "tenant" && e.Data.App == "alpha" })
	if len(tv.Namespaces) != 1 || tv.Namespaces[0].Name != "alpha-staging" {
		t.Fatalf("alpha's namespaces = %+v", tv.Namespaces)
	}
	// Each sees only their own.
	if code, _ := bea.do(t, "GET", "/api/v1/tenants/alpha", nil, nil); code != 403 {
		t.Fatalf("bea reads alpha: HTTP %d", code)
	}
	var list []tenantView
	bea.must(t, 200, "GET", "/api/v1/tenants", nil, &list)
	if len(list) != 1 || list[0].Name != "beta" {
		t.Fatalf("bea's tenants = %+v", list)
	}

	// What the namespace got.
	ns := &corev1.Namespace{}
	if err := kube.Get(ctx, client.ObjectKey{Name: "alpha-staging"}, ns); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{platformv1.LabelTenant: "alpha", platformv1.LabelEnvironment: "staging", platformv1.LabelMonitoring: "true", platformv1.LabelManagedBy: "plattr"} {
		if ns.Labels[k] != v {
			t.Errorf("namespace label %s = %q, want %q", k, ns.Labels[k], v)
		}
	}
	quota := &corev1.ResourceQuota{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "alpha-staging", Name: "tenant"}, quota); err != nil || quota.Spec.Hard.Pods().String() != "20" {
		t.Errorf("quota = %v, %v", quota.Spec.Hard, err)
	}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "alpha-staging", Name: "tenant"}, &corev1.LimitRange{}); err != nil {
		t.Errorf("limit range: %v", err)
	}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: "alpha-staging", Name: "tenant"}, &networkingv1.NetworkPolicy{}); err != nil {
		t.Errorf("network policy: %v", err)
	}
	subjects := func(name string) string {
		rb := &rbacv1.RoleBinding{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: "alpha-staging", Name: name}, rb); err != nil {
			return err.Error()
		}
		var out []string
		for _, s := range rb.Subjects {
			out = append(out, s.Kind+":"+s.Name)
		}
		sort.Strings(out)
		return rb.RoleRef.Name + " " + strings.Join(out, ",")
	}
	if got := subjects("plattr-tenant-admin"); got != "admin User:alice@alpha.test" {
		t.Errorf("admin binding = %s", got)
	}
	if got := subjects("plattr-tenant-edit"); got != "edit User:al@alpha.test" {
		t.Errorf("edit binding = %s", got)
	}

	// The members' roles reach the API: al (User) may create an app there.
	al := asUser(t, "al@alpha.test")
	var envs []struct{ Namespace, Role string }
	eventually(t, 5*time.Second, "al's role in alpha-staging", func() error {
		envs = nil
		al.must(t, 200, "GET", "/api/v1/environments", nil, &envs)
		if len(envs) != 1 || envs[0].Namespace != "alpha-staging" || envs[0].Role != "User" {
			return fmt.Errorf("%+v", envs)
		}
		return nil
	})

	// Both tenants run web in staging.
	webA := createApp(t, al, "alpha-staging", "web", "registry.example.com/alpha-web:1")
	webB := createApp(t, bea, "beta-staging", "web", "registry.example.com/beta-web:1")
	waitTask(t, al, webA.ID, store.TaskDone)
	waitTask(t, bea, webB.ID, store.TaskDone)
	waitPhase(t, al, "alpha-staging", "web", "Running")
	waitPhase(t, bea, "beta-staging", "web", "Running")
	if code, _ := bea.do(t, "GET", "/api/v1/apps/alpha-staging/web", nil, nil); code != 403 {
		t.Fatalf("bea reads alpha's web: HTTP %d", code)
	}
	secretSchema := func(ns string) string {
		s := &corev1.Secret{}
		if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-db"}, s); err != nil {
			return err.Error()
		}
		return string(s.Data[platformv1.KeyDBSchema]) + "/" + string(s.Data[platformv1.KeyDBUser])
	}
	if a, b := secretSchema("alpha-staging"), secretSchema("beta-staging"); a != "staging_alpha_web/staging_alpha_web_app" || b != "staging_beta_web/staging_beta_web_app" {
		t.Fatalf("schemas: alpha %s, beta %s", a, b)
	}

	// A tenant's preview carries the tenant in its names too.
	pe := &platformv1.PreviewEnvironment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "beta-staging", Name: "web-pr-1"},
		Spec:       platformv1.PreviewEnvironmentSpec{ApplicationRef: "web", PullRequest: 1, ImageRef: "registry.example.com/beta-web:pr1"},
	}
	if err := kube.Create(ctx, pe); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "beta's preview Running", func() error {
		got := &platformv1.PreviewEnvironment{}
		if err := kube.Get(ctx, client.ObjectKeyFromObject(pe), got); err != nil {
			return err
		}
		if got.Status.Phase != platformv1.PhaseRunning {
			return fmt.Errorf("phase %q", got.Status.Phase)
		}
		if got.Status.URL != "https://pr-1.web.beta.preview."+operatorBaseDom {
			return fmt.Errorf("url %q", got.Status.URL)
		}
		return kube.Get(ctx, client.ObjectKey{Name: "preview-beta-web-pr-1"}, &corev1.Namespace{})
	})

	// An Admin changes the members; a member who is not Admin may not.
	if code, _ := al.do(t, "PUT", "/api/v1/tenants/alpha", map[string]any{"members": []any{}}, nil); code != 403 {
		t.Fatalf("a User changes the tenant: HTTP %d", code)
	}

	// Deleting the tenant removes its namespaces (and the app in it).
	alice.must(t, 204, "DELETE", "/api/v1/tenants/alpha", nil, nil)
	eventually(t, 90*time.Second, "alpha's namespace gone", func() error {
		err := kube.Get(ctx, client.ObjectKey{Name: "alpha-staging"}, &corev1.Namespace{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace: %v", err)
		}
		if err := kube.Get(ctx, client.ObjectKey{Name: "alpha"}, &platformv1.Tenant{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("tenant: %v", err)
		}
		return nil
	})
	eventually(t, 5*time.Second, "al's roles gone", func() error {
		envs = nil
		al.must(t, 200, "GET", "/api/v1/environments", nil, &envs)
		if len(envs) != 0 {
			return fmt.Errorf("%+v", envs)
		}
		return nil
	})
}
