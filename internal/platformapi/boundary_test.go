package platformapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// The attacker tests of issue 18's tenant boundary: each tries to cross it
// with the means a tenant member has (the API, their own tenant), beside
// the role matrix.

func envRole(t *testing.T, ns, email string) string {
	t.Helper()
	u, err := db.UserByEmail(context.Background(), email)
	if err != nil {
		return ""
	}
	r, err := db.RolesOf(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r.Environments[ns]
}

func appRoleOf(t *testing.T, app store.AppKey, email string) string {
	t.Helper()
	u, err := db.UserByEmail(context.Background(), email)
	if err != nil {
		return ""
	}
	r, err := db.RolesOf(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r.Apps[app]
}

// A tenant named like an existing shared namespace's prefix never reaches
// it: creating the tenant forgets nothing there, adding the environment is
// refused, a Tenant changed behind the API's back grants nothing there,
// and deleting the tenant forgets nothing there.
func TestTenantCannotTakeOverANamespace(t *testing.T) {
	ctx := context.Background()
	shared := "shop-production"
	if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: shared}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err) // an earlier run's (go test -count=2) is the same shared namespace
	}
	legacy := store.AppKey{Namespace: shared, Name: "legacy"}
	if err := db.SetEnvironmentRole(ctx, shared, "ops@shared.test", authz.EnvAdmin); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAppRole(ctx, legacy, "dev@shared.test", authz.AppOwner); err != nil {
		t.Fatal(err)
	}
	intact := func(when string) {
		t.Helper()
		if r := envRole(t, shared, "ops@shared.test"); r != authz.EnvAdmin {
			t.Errorf("%s: ops's role on %s = %q, want Admin", when, shared, r)
		}
		if r := appRoleOf(t, legacy, "dev@shared.test"); r != authz.AppOwner {
			t.Errorf("%s: dev's role on %s/legacy = %q, want Owner", when, shared, r)
		}
		if r := envRole(t, shared, "mallory@shop.test"); r != "" {
			t.Errorf("%s: mallory's role on %s = %q, want none", when, shared, r)
		}
	}

	mallory := asUser(t, "mallory@shop.test")
	mallory.must(t, 201, "POST", "/api/v1/tenants", map[string]any{"name": "shop", "environments": []string{"staging"}}, nil)
	waitTenant(t, mallory, "shop")
	eventually(t, 10*time.Second, "mallory Admin of shop-staging", func() error {
		if r := envRole(t, "shop-staging", "mallory@shop.test"); r != authz.EnvAdmin {
			return fmt.Errorf("role %q", r)
		}
		return nil
	})
	intact("after the tenant was created")

	// Claiming the shared namespace through the API is refused, naming it.
	code, body := mallory.do(t, "PUT", "/api/v1/tenants/shop", map[string]any{
		"environments": []string{"staging", "production"},
		"members":      []map[string]string{{"email": "mallory@shop.test", "role": "Admin"}},
	}, nil)
	if code != 409 || !strings.Contains(body, shared) || !strings.Contains(body, `"field":"environments"`) {
		t.Errorf("adding environment production over %s: HTTP %d %s", shared, code, body)
	}

	// Written straight to the cluster (as a cluster admin might), the
	// Tenant claims it: the operator refuses, and the mirror grants nothing.
	tenant := &platformv1.Tenant{}
	if err := kube.Get(ctx, client.ObjectKey{Name: "shop"}, tenant); err != nil {
		t.Fatal(err)
	}
	tenant.Spec.Environments = []platformv1.Environment{platformv1.EnvironmentStaging, platformv1.EnvironmentProduction}
	if err := kube.Update(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the operator refuses "+shared, func() error {
		if err := kube.Get(ctx, client.ObjectKey{Name: "shop"}, tenant); err != nil {
			return err
		}
		c := meta.FindStatusCondition(tenant.Status.Conditions, platformv1.ConditionNamespaceReady)
		if c == nil || c.Reason != platformv1.ReasonNamespaceConflict {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // both replicas' mirrors saw the status change
	intact("after the Tenant claimed it behind the API's back")

	// A tenant namespace's roles are its Tenant's members: granting one
	// directly is refused, naming the Tenant (the mirror would revert it).
	code, body = mallory.do(t, "PUT", "/api/v1/environments/shop-staging/members/friend@shop.test", map[string]any{"role": "User"}, nil)
	if code != 409 || !strings.Contains(body, "tenant shop") || !strings.Contains(body, "/api/v1/tenants/shop") {
		t.Errorf("a direct grant on a tenant namespace: HTTP %d %s", code, body)
	}
	if r := envRole(t, "shop-staging", "friend@shop.test"); r != "" {
		t.Errorf("the refused grant granted %q", r)
	}
	code, body = mallory.do(t, "DELETE", "/api/v1/environments/shop-staging/members/mallory@shop.test", nil, nil)
	if code != 409 || !strings.Contains(body, "tenant shop") {
		t.Errorf("a direct removal on a tenant namespace: HTTP %d %s", code, body)
	}

	// Deleting the tenant forgets its own namespace's roles, not the
	// shared one's.
	mallory.must(t, 204, "DELETE", "/api/v1/tenants/shop", nil, nil)
	eventually(t, 90*time.Second, "shop gone", func() error {
		if err := kube.Get(ctx, client.ObjectKey{Name: "shop"}, &platformv1.Tenant{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("tenant: %v", err)
		}
		if r := envRole(t, "shop-staging", "mallory@shop.test"); r != "" {
			return fmt.Errorf("mallory still %s of shop-staging", r)
		}
		return nil
	})
	intact("after the tenant was deleted")
}

const eveEmail = "eve@plattr.test"

// eve may create apps in team-a (environment User) and nothing more.
func asEve(t *testing.T) *caller {
	t.Helper()
	if err := db.SetEnvironmentRole(context.Background(), "team-a", eveEmail, authz.EnvUser); err != nil {
		t.Fatal(err)
	}
	return asUser(t, eveEmail)
}

// An app's Owner role comes from its Install, not from asking for one: an
// Install scheduled ahead and canceled grants nothing.
func TestAppOwnerCannotBeClaimedInAdvance(t *testing.T) {
	eve := asEve(t)

	// Claiming in advance.
	claimed := store.AppKey{Namespace: "team-a", Name: "claimed"}
	var ahead store.Task
	eve.must(t, 202, "POST", "/api/v1/apps", map[string]any{"namespace": claimed.Namespace, "name": claimed.Name, "spec": spec("x:1"),
		"executeAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, &ahead)
	if r := appRoleOf(t, claimed, eveEmail); r != "" {
		t.Fatalf("a scheduled Install made eve %s of an app that does not exist", r)
	}
	// Whoever recorded a Pending task may still cancel it.
	eve.must(t, 200, "POST", fmt.Sprintf("/api/v1/tasks/%d/cancel", ahead.ID), nil, nil)
	if r := appRoleOf(t, claimed, eveEmail); r != "" {
		t.Fatalf("after the cancel eve is %s of %s", r, claimed.Name)
	}
}

// A done Install grants Owner (its history says so), bound to that app; an
// app deleted outside the API takes its roles and its history with it, and
// a new app of the same name inherits neither.
func TestAppRolesAndHistoryEndWithTheApp(t *testing.T) {
	ctx := context.Background()
	adminC := admin(t)
	eve := asEve(t)

	// A done Install grants Owner, and says so.
	key := store.AppKey{Namespace: "team-a", Name: "reused"}
	install := createApp(t, eve, key.Namespace, key.Name, "registry.example.com/reused:1")
	done := waitTask(t, eve, install.ID, store.TaskDone)
	if !strings.Contains(done.Reason, eveEmail+" is Owner") {
		t.Errorf("the Install's outcome does not name the Owner grant: %q", done.Reason)
	}
	if r := appRoleOf(t, key, eveEmail); r != authz.AppOwner {
		t.Fatalf("after the Install eve is %q, want Owner", r)
	}
	waitPhase(t, eve, key.Namespace, key.Name, "Running")
	var upgrade store.Task
	eve.must(t, 202, "PUT", "/api/v1/apps/team-a/reused", map[string]any{"spec": spec("registry.example.com/reused:2")}, &upgrade)
	waitTask(t, eve, upgrade.ID, store.TaskDone)
	// A task scheduled on this app must never act on a later one.
	var scheduled store.Task
	eve.must(t, 202, "POST", "/api/v1/apps/team-a/reused/restart", map[string]any{"executeAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, &scheduled)

	// What it cost so far.
	if err := db.InsertCostSamples(ctx, []store.CostSample{{At: time.Now().Add(-time.Hour).Truncate(time.Second), App: key,
		CPUCores: 1, MemoryGiB: 1, IntervalSeconds: 3600}}); err != nil {
		t.Fatal(err)
	}

	// Deleted outside the API (kubectl).
	old := &platformv1.Application{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.Name}, old); err != nil {
		t.Fatal(err)
	}
	if err := kube.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "the app deleted", func() error {
		if err := kube.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.Name}, &platformv1.Application{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("app: %v", err)
		}
		return nil
	})
	for deadline := time.Now().Add(10 * time.Second); appRoleOf(t, key, eveEmail) != ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("eve is still %s of the app deleted with kubectl", appRoleOf(t, key, eveEmail))
			break
		}
	}

	// A new app of the same name, someone else's.
	again := createApp(t, adminC, key.Namespace, key.Name, "registry.example.com/reused-again:1")
	waitTask(t, adminC, again.ID, store.TaskDone)
	if r := appRoleOf(t, key, eveEmail); r != "" {
		t.Errorf("eve inherited %s of the new app", r)
	}
	var history []store.Task
	adminC.must(t, 200, "GET", "/api/v1/apps/team-a/reused/tasks", nil, &history)
	if len(history) != 1 || history[0].ID != again.ID {
		var ids []string
		for _, h := range history {
			ids = append(ids, fmt.Sprintf("%d %s", h.ID, h.Operation))
		}
		t.Errorf("the new app's history shows the old app's tasks: %s", strings.Join(ids, ", "))
	}
	// The old tasks are kept for audit: a site admin reads them, nobody
	// else (eve still views team-a's apps) does.
	if code, body := eve.do(t, "GET", fmt.Sprintf("/api/v1/tasks/%d", upgrade.ID), nil, nil); code != 404 {
		t.Errorf("eve reads the deleted app's upgrade: HTTP %d %s", code, body)
	}
	var audit map[string]any
	adminC.must(t, 200, "GET", fmt.Sprintf("/api/v1/tasks/%d", upgrade.ID), nil, &audit)
	if audit["retiredAt"] == nil {
		t.Errorf("the deleted app's task is not marked retired: %v", audit)
	}
	// Its costs are not shown under the name (site admins' totals keep
	// them, marked deleted).
	type summary struct {
		Tenants []struct {
			Apps []struct {
				Namespace, App string
				Deleted        bool
			}
		}
	}
	costsOf := func(c *caller) (shown, deleted int) {
		var sum summary
		c.must(t, 200, "GET", "/api/v1/costs/summary", nil, &sum)
		for _, tc := range sum.Tenants {
			for _, a := range tc.Apps {
				if a.Namespace == key.Namespace && a.App == key.Name {
					shown++
					if a.Deleted {
						deleted++
					}
				}
			}
		}
		return shown, deleted
	}
	if shown, _ := costsOf(eve); shown != 0 {
		t.Errorf("eve sees the deleted app's costs under the new app's name")
	}
	if shown, deleted := costsOf(adminC); shown != 1 || deleted != 1 {
		t.Errorf("the site admin sees %d cost rows of %s (%d marked deleted), want the deleted one's", shown, key.Name, deleted)
	}
	var sched store.Task
	adminC.must(t, 200, "GET", fmt.Sprintf("/api/v1/tasks/%d", scheduled.ID), nil, &sched)
	if sched.State != store.TaskCanceled {
		t.Errorf("the deleted app's scheduled restart is %s, want Canceled", sched.State)
	}
	adminC.must(t, 202, "DELETE", "/api/v1/apps/team-a/reused", nil, nil)
}

// A tenant made again under a deleted one's name inherits none of its
// history: its members see no task of the old tenant's apps.
func TestReusedTenantNameInheritsNoHistory(t *testing.T) {
	ctx := context.Background()
	first := asUser(t, "first@reuse.test")
	first.must(t, 201, "POST", "/api/v1/tenants", map[string]any{"name": "reuse", "environments": []string{"staging"}}, nil)
	waitTenant(t, first, "reuse")
	eventually(t, 10*time.Second, "first Admin of reuse-staging", func() error {
		if r := envRole(t, "reuse-staging", "first@reuse.test"); r != authz.EnvAdmin {
			return fmt.Errorf("role %q", r)
		}
		return nil
	})
	install := createApp(t, first, "reuse-staging", "web", "registry.example.com/reuse-web:1")
	waitTask(t, first, install.ID, store.TaskDone)
	first.must(t, 204, "DELETE", "/api/v1/tenants/reuse", nil, nil)
	eventually(t, 90*time.Second, "the first reuse gone", func() error {
		if err := kube.Get(ctx, client.ObjectKey{Name: "reuse-staging"}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace: %v", err)
		}
		if err := kube.Get(ctx, client.ObjectKey{Name: "reuse"}, &platformv1.Tenant{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("tenant: %v", err)
		}
		return nil
	})

	second := asUser(t, "second@reuse.test")
	second.must(t, 201, "POST", "/api/v1/tenants", map[string]any{"name": "reuse", "environments": []string{"staging"}}, nil)
	waitTenant(t, second, "reuse")
	eventually(t, 10*time.Second, "second Admin of reuse-staging", func() error {
		if r := envRole(t, "reuse-staging", "second@reuse.test"); r != authz.EnvAdmin {
			return fmt.Errorf("role %q", r)
		}
		return nil
	})
	if r := envRole(t, "reuse-staging", "first@reuse.test"); r != "" {
		t.Errorf("the first tenant's admin keeps %s on the new tenant's namespace", r)
	}
	var history []store.Task
	second.must(t, 200, "GET", "/api/v1/apps/reuse-staging/web/tasks", nil, &history)
	if len(history) != 0 {
		t.Errorf("the new tenant sees the old tenant's web history: %d tasks, the first %s with %s", len(history), history[0].Operation, history[0].Request)
	}
	if code, body := second.do(t, "GET", fmt.Sprintf("/api/v1/tasks/%d", install.ID), nil, nil); code != 404 {
		t.Errorf("the new tenant reads the old tenant's install: HTTP %d %s", code, body)
	}
	second.must(t, 204, "DELETE", "/api/v1/tenants/reuse", nil, nil)
}
