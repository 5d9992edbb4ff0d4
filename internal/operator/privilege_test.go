package operator_test

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/operator"
)

// operatorUser is the operator's ServiceAccount in config/rbac.
const operatorUser = "system:serviceaccount:plattr-system:plattr-operator"

// clientAs is a client that impersonates user (and groups).
func clientAs(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ensureNamespace creates a namespace with labels unless it exists.
func ensureNamespace(t *testing.T, c client.Client, name string, labels map[string]string) {
	t.Helper()
	err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// installRBAC applies config/rbac (the operator's ServiceAccount, role and
// binding, its admission policy, the tenant roles) as the platform team.
func installRBAC(t *testing.T, admin client.Client) {
	t.Helper()
	ensureNamespace(t, admin, "plattr-system", nil)
	kubectl(t, "apply", "--server-side", "-k", "config/rbac")
}

// denied says whether err is the API server refusing the write (RBAC or
// admission), and, when want is set, that its message names want.
func denied(err error, want string) bool {
	return (apierrors.IsForbidden(err) || apierrors.IsInvalid(err)) && strings.Contains(err.Error(), want)
}

// TestOperatorServiceAccountWritesOnlyPlattrsOwn is the attacker's view of
// a stolen operator token: its ClusterRole lets it write Secrets,
// RoleBindings and Namespaces anywhere and bind admin and edit. Acting as
// the ServiceAccount, the writes Plattr never makes are refused by the
// admission policy of config/rbac, and the writes it does make go through.
func TestOperatorServiceAccountWritesOnlyPlattrsOwn(t *testing.T) {
	ctx := context.Background()
	admin, err := client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	installRBAC(t, admin)
	managed := map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue}
	// An app's namespace (unlabelled, like default), a namespace of someone
	// else's with a Secret, a tenant's namespace and a preview's.
	ensureNamespace(t, admin, "priv-apps", nil)
	ensureNamespace(t, admin, "priv-victim", map[string]string{"team": "infra"})
	ensureNamespace(t, admin, "priv-team-staging", map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue, platformv1.LabelTenant: "priv-team"})
	ensureNamespace(t, admin, "priv-preview", map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue, platformv1.LabelType: platformv1.TypePreview})
	victimSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "priv-victim", Name: "ca"}, StringData: map[string]string{"key": "x"}}
	if err := admin.Create(ctx, victimSecret); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	op := clientAs(t, operatorUser)

	// The policy takes effect once the API server has loaded it: until the
	// first refusal, a dry run of a write it refuses is retried.
	probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "priv-apps", Name: "probe"}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := op.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if denied(err, "managed-by=plattr") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the operator's ServiceAccount may create an unlabelled Secret in an app's namespace: err = %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The API server type-checked each policy against its kind's schema.
	for _, kind := range []string{"secrets", "rolebindings", "namespaces"} {
		vap := &admissionregistrationv1.ValidatingAdmissionPolicy{}
		for {
			if err := admin.Get(ctx, client.ObjectKey{Name: "plattr-operator-" + kind}, vap); err != nil {
				t.Fatal(err)
			}
			if vap.Status.ObservedGeneration == vap.Generation || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if tc := vap.Status.TypeChecking; tc == nil || len(tc.ExpressionWarnings) > 0 {
			t.Errorf("policy %s, its type check: %+v", vap.Name, tc)
		}
	}

	refused := []struct {
		name, want string
		write      func() error
	}{
		{"an unlabelled Secret", "managed-by=plattr", func() error {
			return op.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "priv-apps", Name: "loose"}})
		}},
		{"a labelled service-account token Secret (the token controller would fill it in)", "Opaque", func() error {
			return op.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "priv-victim", Name: "token", Labels: managed,
				Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}}, Type: corev1.SecretTypeServiceAccountToken})
		}},
		{"taking over someone else's Secret by labelling it", "Secrets Plattr made", func() error {
			s := &corev1.Secret{}
			if err := op.Get(ctx, client.ObjectKeyFromObject(victimSecret), s); err != nil {
				return err
			}
			s.Labels = managed
			return op.Update(ctx, s)
		}},
		{"deleting someone else's Secret", "Secrets Plattr made", func() error {
			return op.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "priv-victim", Name: "ca"}})
		}},
		{"deleting an unlabelled namespace", "deletes only the namespaces", func() error {
			return op.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "priv-victim"}})
		}},
		{"deleting kube-system", "", func() error {
			return op.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}}, client.DryRunAll)
		}},
		{"making a namespace a tenant's by labelling it", "platform.internal/tenant", func() error {
			ns := &corev1.Namespace{}
			if err := op.Get(ctx, client.ObjectKey{Name: "priv-victim"}, ns); err != nil {
				return err
			}
			ns.Labels[platformv1.LabelManagedBy], ns.Labels[platformv1.LabelTenant] = platformv1.ManagedByValue, "priv-team"
			return op.Update(ctx, ns)
		}},
		{"an owner reference on someone else's namespace (the garbage collector would delete it)", "owner references", func() error {
			ns := &corev1.Namespace{}
			if err := op.Get(ctx, client.ObjectKey{Name: "priv-victim"}, ns); err != nil {
				return err
			}
			ns.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "gone", UID: "00000000-0000-0000-0000-000000000000"}}
			return op.Update(ctx, ns)
		}},
		{"an unlabelled namespace", "creates only namespaces", func() error {
			return op.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "priv-loose"}})
		}},
		{"a RoleBinding to cluster-admin in a tenant's namespace", "", func() error {
			return op.Create(ctx, roleBinding("priv-team-staging", "grab", "cluster-admin", managed))
		}},
		{"a RoleBinding to admin in someone else's namespace", "only in a tenant namespace", func() error {
			return op.Create(ctx, roleBinding("priv-victim", "grab", "admin", managed))
		}},
		{"a RoleBinding passing on the operator's own ClusterRole", "binds only the ClusterRoles admin, edit and view", func() error {
			return op.Create(ctx, roleBinding("priv-team-staging", "grab", "plattr-operator", managed))
		}},
		{"an unlabelled RoleBinding in a tenant's namespace", "binds only", func() error {
			return op.Create(ctx, roleBinding("priv-team-staging", "grab", "edit", nil))
		}},
	}
	for _, r := range refused {
		if err := r.write(); !denied(err, r.want) {
			t.Errorf("as the operator's ServiceAccount, %s: err = %v, want it refused (naming %q)", r.name, err, r.want)
		}
	}

	// What the operator does write still goes through: an app's
	// credentials Secret where the app lives, the environment labels on a
	// namespace, a tenant's namespace, its team binding, and deleting it.
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "priv-apps", Name: "shop-db", Labels: managed}, Type: corev1.SecretTypeOpaque,
		StringData: map[string]string{"DB_PASSWORD": "x"}}
	allowed := []struct {
		name  string
		write func() error
	}{
		{"an app's credentials Secret", func() error { return op.Create(ctx, secret) }},
		{"updating it", func() error {
			secret.StringData = map[string]string{"DB_PASSWORD": "y"}
			return op.Update(ctx, secret)
		}},
		{"deleting it", func() error { return op.Delete(ctx, secret) }},
		{"the environment labels on an existing namespace", func() error {
			ns := &corev1.Namespace{}
			if err := op.Get(ctx, client.ObjectKey{Name: "priv-apps"}, ns); err != nil {
				return err
			}
			ns.Labels[platformv1.LabelManagedBy], ns.Labels[platformv1.LabelEnvironment] = platformv1.ManagedByValue, "staging"
			return op.Update(ctx, ns)
		}},
		{"a tenant's namespace", func() error {
			return op.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "priv-team-uat",
				Labels: map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue, platformv1.LabelTenant: "priv-team"}}})
		}},
		{"a team RoleBinding to admin in a tenant's namespace", func() error {
			return op.Create(ctx, roleBinding("priv-team-staging", "plattr-tenant-admin", "admin", managed))
		}},
		{"deleting that RoleBinding", func() error {
			return op.Delete(ctx, roleBinding("priv-team-staging", "plattr-tenant-admin", "admin", managed))
		}},
		{"deleting a tenant's namespace", func() error {
			return op.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "priv-team-uat"}})
		}},
		{"deleting a preview's namespace", func() error {
			return op.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "priv-preview"}})
		}},
	}
	for _, a := range allowed {
		if err := a.write(); err != nil {
			t.Errorf("as the operator's ServiceAccount, %s: %v", a.name, err)
		}
	}
}

func roleBinding(namespace, name, clusterRole string, labels map[string]string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "someone@example.com"}},
	}
}

// TestTenantRolesCoverTenantKinds: a user who holds Kubernetes' edit role
// in a namespace (as a Tenant's members do) can create Applications and
// PreviewEnvironments there with kubectl; one who holds view can read them
// and create nothing; neither can create a Tenant, the platform's kind.
func TestTenantRolesCoverTenantKinds(t *testing.T) {
	ctx := context.Background()
	admin, err := client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	installRBAC(t, admin)
	const ns = "agg-team"
	ensureNamespace(t, admin, ns, nil)
	for role, user := range map[string]string{"edit": "dev@agg.test", "view": "viewer@agg.test"} {
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: role},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		}
		if err := admin.Create(ctx, rb); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	dev, viewer := clientAs(t, "dev@agg.test", "system:authenticated"), clientAs(t, "viewer@agg.test", "system:authenticated")
	app := &platformv1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agg-app"},
		Spec: platformv1.ApplicationSpec{Repository: "github.com/example/agg-app", Framework: "static",
			Environment: platformv1.EnvironmentStaging, ImageRef: "registry.example.com/agg-app:1"},
	}
	// The aggregation controller folds the roles in moments after they
	// are applied.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := dev.Create(ctx, app.DeepCopy())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a user holding edit in %s cannot create an Application: %v", ns, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() { _ = admin.Delete(ctx, app) })
	pe := &platformv1.PreviewEnvironment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agg-app-pr-1"},
		Spec:       platformv1.PreviewEnvironmentSpec{ApplicationRef: "agg-app", PullRequest: 1, ImageRef: "registry.example.com/agg-app:pr-1"},
	}
	if err := dev.Create(ctx, pe); err != nil {
		t.Fatalf("a user holding edit cannot create a PreviewEnvironment: %v", err)
	}
	t.Cleanup(func() { _ = admin.Delete(ctx, pe) })
	got := &platformv1.Application{}
	if err := dev.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
		t.Fatal(err)
	}
	got.Spec.ImageRef = "registry.example.com/agg-app:2"
	if err := dev.Update(ctx, got); err != nil {
		t.Fatalf("a user holding edit cannot update an Application: %v", err)
	}
	got.Status.Phase = platformv1.PhaseRunning
	if err := dev.Status().Update(ctx, got); !apierrors.IsForbidden(err) {
		t.Errorf("a user holding edit wrote an Application's status (the operator's): %v", err)
	}

	if err := viewer.Get(ctx, client.ObjectKeyFromObject(app), &platformv1.Application{}); err != nil {
		t.Errorf("a user holding view cannot get an Application: %v", err)
	}
	if err := viewer.List(ctx, &platformv1.PreviewEnvironmentList{}, client.InNamespace(ns)); err != nil {
		t.Errorf("a user holding view cannot list PreviewEnvironments: %v", err)
	}
	other := app.DeepCopy()
	other.Name = "viewer-app"
	if err := viewer.Create(ctx, other); !apierrors.IsForbidden(err) {
		t.Errorf("a user holding view created an Application: %v", err)
	}
	if err := viewer.Delete(ctx, pe); !apierrors.IsForbidden(err) {
		t.Errorf("a user holding view deleted a PreviewEnvironment: %v", err)
	}

	// NatsUsers are a tenant kind; NatsAccounts the platform's.
	nu := &platformv1.NatsUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agg-user"}, Spec: platformv1.NatsUserSpec{
		AccountRef: platformv1.LocalObjectName{Name: "default"}, CredentialsSecret: platformv1.LocalObjectName{Name: "agg-user-nats"}}}
	if err := dev.Create(ctx, nu); err != nil {
		t.Errorf("a user holding edit cannot create a NatsUser: %v", err)
	}
	t.Cleanup(func() { _ = admin.Delete(ctx, nu) })
	if err := viewer.Get(ctx, client.ObjectKeyFromObject(nu), &platformv1.NatsUser{}); err != nil {
		t.Errorf("a user holding view cannot get a NatsUser: %v", err)
	}
	if err := viewer.Delete(ctx, nu); !apierrors.IsForbidden(err) {
		t.Errorf("a user holding view deleted a NatsUser: %v", err)
	}
	for name, c := range map[string]client.Client{"edit": dev, "view": viewer} {
		acct := &platformv1.NatsAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agg-" + name}}
		if err := c.Create(ctx, acct); !apierrors.IsForbidden(err) {
			t.Errorf("a user holding %s in a namespace created a NatsAccount: %v", name, err)
			_ = admin.Delete(ctx, acct)
		}
	}

	for name, c := range map[string]client.Client{"edit": dev, "view": viewer} {
		tenant := &platformv1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Name: "agg-" + name},
			Spec:       platformv1.TenantSpec{Environments: []platformv1.Environment{platformv1.EnvironmentStaging}},
		}
		if err := c.Create(ctx, tenant); !apierrors.IsForbidden(err) {
			t.Errorf("a user holding %s in a namespace created a Tenant: %v", name, err)
			_ = admin.Delete(ctx, tenant)
		}
	}
}
