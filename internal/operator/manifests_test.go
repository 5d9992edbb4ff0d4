package operator_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/testenv"
)

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	root, _ := testenv.RepoRoot()
	cmd := exec.Command(filepath.Join(cluster.Plane.Bin.K8sDir, "kubectl"), append([]string{"--kubeconfig", cluster.Plane.Kubeconfig()}, args...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestInstallManifestsGrantEnoughRBAC checks config/default against the API
// server, then runs the operator as its own ServiceAccount with only the
// generated ClusterRole: a missing permission would stop the app short of
// Running or the Lease from being taken.
func TestInstallManifestsGrantEnoughRBAC(t *testing.T) {
	// Namespaced objects can be dry-run only in a namespace that exists.
	c, err := client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ensureNamespace(t, c, "plattr-system", nil)
	// The same field manager as the CRD installer (internal/crds), which
	// installed these objects in this cluster already.
	out := kubectl(t, "apply", "--server-side", "--field-manager=plattr", "--dry-run=server", "-k", "config/default")
	for _, want := range []string{"deployment.apps/plattr-operator", "clusterrole.rbac.authorization.k8s.io/plattr-operator", "customresourcedefinition.apiextensions.k8s.io/applications.platform.internal"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run did not cover %s:\n%s", want, out)
		}
	}
	// config/rbac holds the admission policy that limits what the
	// ServiceAccount writes (operator_policy.yaml): the operator's own
	// writes below pass it.
	kubectl(t, "apply", "--server-side", "-k", "config/rbac")
	for _, want := range []string{"validatingadmissionpolicy.admissionregistration.k8s.io/plattr-operator-secrets", "validatingadmissionpolicy.admissionregistration.k8s.io/plattr-operator-rolebindings", "validatingadmissionpolicy.admissionregistration.k8s.io/plattr-operator-namespaces", "clusterrole.rbac.authorization.k8s.io/plattr-edit"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run did not cover %s:\n%s", want, out)
		}
	}

	asOperator := rest.CopyConfig(cluster.Config)
	asOperator.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:plattr-system:plattr-operator"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- operator.Run(ctx, config.Operator{
			DBAdminURL: "postgres://nobody@127.0.0.1:1/none", BaseDomain: "rbac.test", IngressClass: "nginx", ClusterIssuer: "x",
			LeaderElection: true, LeaseNamespace: "plattr-system", MetricsAddr: "0",
			MaxConcurrentReconciles: 2, KubeAPIQPS: 50, KubeAPIBurst: 100,
		}, asOperator, operator.Options{Restartable: true})
	}()
	defer func() { cancel(); <-done }()

	app := &platformv1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "rbac-probe"},
		Spec: platformv1.ApplicationSpec{
			Repository: "github.com/example/rbac-probe", Framework: "static",
			Environment: platformv1.EnvironmentUAT, ImageRef: "registry.example.com/rbac-probe:1",
		},
	}
	if err := c.Create(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := &platformv1.Application{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(app), got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase == platformv1.PhaseRunning {
			break
		}
		if time.Now().After(deadline) {
			ready := meta.FindStatusCondition(got.Status.Conditions, "Ready")
			t.Fatalf("not Running as the ServiceAccount: phase %q, Ready %+v", got.Status.Phase, ready)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A tenant, as the ServiceAccount: namespaces, guards and RoleBindings
	// to the admin and edit roles (which needs the bind permission).
	tenant := &platformv1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "rbac-team"},
		Spec: platformv1.TenantSpec{Environments: []platformv1.Environment{platformv1.EnvironmentStaging}, Quota: platformv1.TenantQuotaSmall,
			Members: []platformv1.TenantMember{{Email: "lead@rbac.test", Role: platformv1.TenantAdmin}, {Email: "dev@rbac.test", Role: platformv1.TenantUser}}},
	}
	if err := c.Create(context.Background(), tenant); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		got := &platformv1.Tenant{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(tenant), got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase == platformv1.PhaseRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant not Running as the ServiceAccount: %+v", got.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rb := &rbacv1.RoleBinding{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "rbac-team-staging", Name: "plattr-tenant-edit"}, rb); err != nil || len(rb.Subjects) != 1 {
		t.Fatalf("the tenant's edit binding: %+v, %v", rb.Subjects, err)
	}
	// Events are written with the operator's own permissions too.
	events := &corev1.EventList{}
	if err := c.List(context.Background(), events, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events.Items {
		found = found || (e.InvolvedObject.Name == "rbac-probe" && e.Reason == "PhaseChanged")
	}
	if !found {
		t.Error("no PhaseChanged event recorded as the ServiceAccount")
	}
}
