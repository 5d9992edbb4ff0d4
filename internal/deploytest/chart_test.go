package deploytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// minimal are the values a platform team must set (README "Install on
// your cluster").
var minimal = []string{
	"--set", "operator.baseDomain=apps.example.com",
	"--set", "operator.database.adminUrlSecret.name=plattr-db",
	"--set", "api.databaseUrlSecret.name=plattr-api-db",
}

func TestChartLint(t *testing.T) {
	helm := tool(t, "helm")
	for _, args := range [][]string{
		{"lint", chartDir, "--strict"},
		append([]string{"lint", chartDir, "--strict"}, minimal...),
		{"lint", chartDir, "--strict", "-f", filepath.Join(chartDir, "ci", "full-values.yaml")},
	} {
		out := mustRun(t, helm, args...)
		if !strings.Contains(out, "0 chart(s) failed") || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
			t.Errorf("helm %s:\n%s", strings.Join(args, " "), out)
		}
	}
}

// render runs helm template and decodes every object.
func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out := mustRun(t, tool(t, "helm"), append([]string{"template", "plattr", chartDir, "-n", "plattr-system"}, args...)...)
	return decode(t, out)
}

func decode(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("rendered YAML does not parse: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func into(t *testing.T, u *unstructured.Unstructured, out any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatal(err)
	}
}

func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

// TestChartTemplateMinimal renders the chart with only the required values
// and checks what the issue asks of the operator's Deployment.
func TestChartTemplateMinimal(t *testing.T) {
	objs := render(t, minimal...)
	want := []string{
		"ClusterRole/plattr-api", "ClusterRole/plattr-edit", "ClusterRole/plattr-operator", "ClusterRole/plattr-view",
		"ClusterRoleBinding/plattr-api", "ClusterRoleBinding/plattr-operator",
		"ConfigMap/plattr-operator",
		"CustomResourceDefinition/apiaggregators.platform.internal",
		"CustomResourceDefinition/apiaggregatortargets.platform.internal",
		"CustomResourceDefinition/applications.platform.internal",
		"CustomResourceDefinition/chartreleases.platform.internal",
		"CustomResourceDefinition/chartsources.platform.internal",
		"CustomResourceDefinition/chartversions.platform.internal",
		"CustomResourceDefinition/natsaccounts.platform.internal",
		"CustomResourceDefinition/natsusers.platform.internal",
		"CustomResourceDefinition/previewenvironments.platform.internal",
		"CustomResourceDefinition/tenants.platform.internal",
		"Deployment/plattr-api", "Deployment/plattr-operator",
		"PodDisruptionBudget/plattr-api", "PodDisruptionBudget/plattr-operator",
		"Service/plattr-api", "Service/plattr-api-metrics", "Service/plattr-operator-metrics",
		"ServiceAccount/plattr-api", "ServiceAccount/plattr-operator",
		"ValidatingAdmissionPolicy/plattr-application-environment",
		"ValidatingAdmissionPolicy/plattr-gateway-routes",
		"ValidatingAdmissionPolicy/plattr-operator-namespaces",
		"ValidatingAdmissionPolicy/plattr-operator-rolebindings",
		"ValidatingAdmissionPolicy/plattr-operator-secrets",
		"ValidatingAdmissionPolicyBinding/plattr-application-environment",
		"ValidatingAdmissionPolicyBinding/plattr-gateway-routes",
		"ValidatingAdmissionPolicyBinding/plattr-operator-namespaces",
		"ValidatingAdmissionPolicyBinding/plattr-operator-rolebindings",
		"ValidatingAdmissionPolicyBinding/plattr-operator-secrets",
	}
	if got := kinds(objs); !slices.Equal(got, want) {
		t.Fatalf("rendered:\n %s\nwant:\n %s", strings.Join(got, "\n "), strings.Join(want, "\n "))
	}
	// The route policy exempts the release's operator only.
	var routes admissionregistrationv1.ValidatingAdmissionPolicy
	into(t, find(t, objs, "ValidatingAdmissionPolicy", "plattr-gateway-routes"), &routes)
	if len(routes.Spec.MatchConditions) != 1 || routes.Spec.MatchConditions[0].Expression != "request.userInfo.username != 'system:serviceaccount:plattr-system:plattr-operator'" {
		t.Errorf("plattr-gateway-routes: match %+v", routes.Spec.MatchConditions)
	}
	// The operator's policies match the release's own ServiceAccount.
	for _, kind := range []string{"secrets", "rolebindings", "namespaces"} {
		name := "plattr-operator-" + kind
		var vap admissionregistrationv1.ValidatingAdmissionPolicy
		into(t, find(t, objs, "ValidatingAdmissionPolicy", name), &vap)
		if len(vap.Spec.MatchConditions) != 1 || vap.Spec.MatchConditions[0].Expression != "request.userInfo.username == 'system:serviceaccount:plattr-system:plattr-operator'" ||
			len(vap.Spec.Validations) < 2 || vap.Spec.MatchConstraints.ResourceRules[0].Resources[0] != kind {
			t.Errorf("%s: match %+v, %d validations", name, vap.Spec.MatchConditions, len(vap.Spec.Validations))
		}
		var vapb admissionregistrationv1.ValidatingAdmissionPolicyBinding
		into(t, find(t, objs, "ValidatingAdmissionPolicyBinding", name), &vapb)
		if vapb.Spec.PolicyName != name || !slices.Equal(vapb.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
			t.Errorf("%s binding: %+v", name, vapb.Spec)
		}
	}
	var edit rbacv1.ClusterRole
	into(t, find(t, objs, "ClusterRole", "plattr-edit"), &edit)
	if edit.Labels["rbac.authorization.k8s.io/aggregate-to-edit"] != "true" || edit.Labels["rbac.authorization.k8s.io/aggregate-to-admin"] != "true" ||
		edit.Labels["app.kubernetes.io/part-of"] != "plattr" {
		t.Errorf("plattr-edit labels %v: want aggregated into admin and edit", edit.Labels)
	}

	var d appsv1.Deployment
	into(t, find(t, objs, "Deployment", "plattr-operator"), &d)
	if *d.Spec.Replicas != 2 {
		t.Errorf("operator replicas %d, want 2", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != "ghcr.io/plattr/plattr-operator:0.1.0" {
		t.Errorf("image %s: want the chart's appVersion as tag", c.Image)
	}
	// The restricted Pod Security profile (the install test enforces it).
	if pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		*c.SecurityContext.AllowPrivilegeEscalation || !*c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.Capabilities.Drop[0] != "ALL" {
		t.Errorf("not restricted: pod %+v, container %+v", pod.SecurityContext, c.SecurityContext)
	}
	if c.LivenessProbe.HTTPGet.Port.String() != "health" || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("probes %+v / %+v, resources %+v", c.LivenessProbe, c.ReadinessProbe, c.Resources)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["LEADER_ELECTION"].Value != "true" || env["LEASE_NAMESPACE"].ValueFrom.FieldRef.FieldPath != "metadata.namespace" ||
		env["HEALTH_ADDR"].Value != ":8081" || env["DB_ADMIN_URL"].ValueFrom.SecretKeyRef.Name != "plattr-db" {
		t.Errorf("operator env: %+v", c.Env)
	}
	var cm corev1.ConfigMap
	into(t, find(t, objs, "ConfigMap", "plattr-operator"), &cm)
	if cm.Data["BASE_DOMAIN"] != "apps.example.com" || cm.Data["ENVIRONMENT_NAMESPACES"] != "staging,uat,production" {
		t.Errorf("operator ConfigMap: %v", cm.Data)
	}
	for k, v := range cm.Data {
		if strings.Contains(strings.ToLower(k), "password") || strings.Contains(v, "postgres://") {
			t.Errorf("a credential in the ConfigMap: %s", k)
		}
	}
	crd := find(t, objs, "CustomResourceDefinition", "applications.platform.internal")
	if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Errorf("CRD annotations %v: want helm.sh/resource-policy: keep", crd.GetAnnotations())
	}
}

// TestChartWithoutCRDs: crds.install=false leaves the CRDs to the team
// (kubectl apply --server-side -f files/crds/) and renders the rest.
func TestChartWithoutCRDs(t *testing.T) {
	objs := render(t, append([]string{"--set", "crds.install=false"}, minimal...)...)
	for _, k := range kinds(objs) {
		if strings.HasPrefix(k, "CustomResourceDefinition/") {
			t.Errorf("%s rendered with crds.install=false", k)
		}
	}
	find(t, objs, "Deployment", "plattr-operator")
}

// TestChartTemplateFull renders every optional part and checks the values
// reach the objects.
func TestChartTemplateFull(t *testing.T) {
	objs := render(t, "-f", filepath.Join(chartDir, "ci", "full-values.yaml"))
	for _, k := range []string{"ServiceMonitor/plattr-operator", "ServiceMonitor/plattr-api", "PrometheusRule/plattr",
		"ConfigMap/plattr-dashboard", "Ingress/plattr-api"} {
		if !slices.Contains(kinds(objs), k) {
			t.Errorf("%s not rendered with full values", k)
		}
	}
	// The API's /metrics is scraped on its own ClusterIP Service, never on
	// the Service the portal and API are reached at.
	var apiSvc, metricsSvc corev1.Service
	into(t, find(t, objs, "Service", "plattr-api"), &apiSvc)
	into(t, find(t, objs, "Service", "plattr-api-metrics"), &metricsSvc)
	for _, p := range apiSvc.Spec.Ports {
		if p.Name == "metrics" || p.TargetPort.String() == "metrics" {
			t.Errorf("the API's Service exposes the metrics port: %+v", p)
		}
	}
	if metricsSvc.Spec.Type != corev1.ServiceTypeClusterIP || len(metricsSvc.Spec.Ports) != 1 || metricsSvc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("the API's metrics Service: %+v", metricsSvc.Spec)
	}
	sm, _ := yaml.Marshal(find(t, objs, "ServiceMonitor", "plattr-api").Object["spec"])
	if !strings.Contains(string(sm), "port: metrics") {
		t.Errorf("the API's ServiceMonitor does not scrape the metrics port:\n%s", sm)
	}
	var cm corev1.ConfigMap
	into(t, find(t, objs, "ConfigMap", "plattr-operator"), &cm)
	if cm.Data["DB_SECRET_ARN"] == "" || cm.Data["DB_HOST"] == "" || cm.Data["AWS_REGION"] != "us-east-1" ||
		cm.Data["AUTH_PROVIDER"] != "keycloak" || cm.Data["ENVIRONMENT_NAMESPACES"] != "staging,uat,shop-prod=production" {
		t.Errorf("operator ConfigMap with full values: %v", cm.Data)
	}
	// The platform's own hosts are reserved: the API's Ingress, public URL
	// and sign-in issuer, beside the listed ones.
	if cm.Data["ALLOWED_DOMAIN_SUFFIXES"] != "*.shop.example.com,example.org" ||
		cm.Data["RESERVED_HOSTS"] != "status.example.com,platform.example.com,auth.example.com" {
		t.Errorf("ALLOWED_DOMAIN_SUFFIXES %q, RESERVED_HOSTS %q", cm.Data["ALLOWED_DOMAIN_SUFFIXES"], cm.Data["RESERVED_HOSTS"])
	}
	sa := find(t, objs, "ServiceAccount", "plattr-operator")
	if sa.GetAnnotations()["eks.amazonaws.com/role-arn"] == "" {
		t.Errorf("the IRSA annotation did not reach the ServiceAccount: %v", sa.GetAnnotations())
	}
	var d appsv1.Deployment
	into(t, find(t, objs, "Deployment", "plattr-operator"), &d)
	if d.Spec.Template.Spec.Containers[0].Image != "registry.example.com/plattr/plattr-operator:v1.2.3" || *d.Spec.Replicas != 3 {
		t.Errorf("image %s replicas %d", d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas)
	}

	// The PrometheusRule is the promtool-tested file, links rebased.
	rule := find(t, objs, "PrometheusRule", "plattr")
	spec, _ := yaml.Marshal(rule.Object["spec"])
	if !bytes.Contains(spec, []byte("https://wiki.example.com/plattr/runbooks/PlattrOperatorDown.md")) || bytes.Contains(spec, []byte("github.com/plattr/plattr/blob")) {
		t.Errorf("runbook links not rebased:\n%s", spec)
	}
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	if len(groups) != 2 {
		t.Errorf("%d rule groups, want 2", len(groups))
	}
	dash := find(t, objs, "ConfigMap", "plattr-dashboard")
	if j, _, _ := unstructured.NestedString(dash.Object, "data", "plattr.json"); !strings.Contains(j, `"uid": "plattr-overview"`) || dash.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap: labels %v, %d bytes", dash.GetLabels(), len(j))
	}
}

// TestChartRefusesBadValues: a wrong type or a misspelt key fails on the
// schema naming the value; missing required values are reported together.
func TestChartRefusesBadValues(t *testing.T) {
	helm := tool(t, "helm")
	for _, tc := range []struct {
		set  []string
		want []string
	}{
		{[]string{"operator.replicas=two"}, []string{"/operator/replicas", "want integer"}},
		{[]string{"operator.replica=2"}, []string{"/operator", "replica"}},
		{[]string{"operator.baseDomain=Apps_Example"}, []string{"/operator/baseDomain"}},
		{[]string{"operator.previews.maxTTL=3 weeks"}, []string{"/operator/previews/maxTTL"}},
		{[]string{"operator.database.secretsManager.secretArn=plattr/db"}, []string{"/operator/database/secretsManager/secretArn"}},
		{[]string{"api.service.type=Public"}, []string{"/api/service/type"}},
		{[]string{"metrics.serviceMonitor.enabled=yes please"}, []string{"/metrics/serviceMonitor/enabled", "want boolean"}},
	} {
		args := []string{"template", "plattr", chartDir}
		args = append(args, minimal...)
		for _, s := range tc.set {
			args = append(args, "--set", s)
		}
		out, err := run(t, helm, args...)
		if err == nil {
			t.Errorf("--set %v rendered; want a schema error", tc.set)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("--set %v: error does not name %q:\n%s", tc.set, w, out)
			}
		}
	}

	out, err := run(t, helm, "template", "plattr", chartDir)
	if err == nil {
		t.Fatal("rendered without a base domain or a database")
	}
	for _, w := range []string{"operator.baseDomain is empty", "operator.database: name the PostgreSQL admin credentials", "api.databaseUrlSecret.name is empty"} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in:\n%s", w, out)
		}
	}
	out, err = run(t, helm, append([]string{"template", "plattr", chartDir, "--set", "operator.database.secretsManager.secretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:x"}, minimal...)...)
	if err == nil || !strings.Contains(out, "adminUrlSecret.name and secretsManager.secretArn are both set") || !strings.Contains(out, "operator.database.host is empty") {
		t.Errorf("both credential sources: err %v\n%s", err, out)
	}
}

// TestChartReadmeDocumentsEveryValue: the README is generated from the
// values' comments and lists each one (verify-generate keeps it fresh).
func TestChartReadmeDocumentsEveryValue(t *testing.T) {
	readme := readFile(t, filepath.Join(chartDir, "README.md"))
	for _, key := range []string{"operator.baseDomain", "operator.database.secretsManager.secretArn", "operator.serviceAccount.annotations",
		"api.ingress.host", "metrics.prometheusRule.runbookBaseUrl", "crds.keep"} {
		if !strings.Contains(readme, fmt.Sprintf("| `%s` |", key)) {
			t.Errorf("README.md has no row for %s", key)
		}
	}
}

// TestChartSetsEveryOperatorVariable: every environment variable the
// operator reads (internal/config) is set by the chart, so a new setting
// cannot be added without a value for it.
func TestChartSetsEveryOperatorVariable(t *testing.T) {
	src := readFile(t, filepath.Join(root, "internal", "config", "config.go"))
	vars := regexp.MustCompile(`\("([A-Z][A-Z0-9_]+)"`).FindAllStringSubmatch(src, -1)
	if len(vars) < 30 {
		t.Fatalf("found %d variables in internal/config/config.go; the pattern no longer matches how it reads them", len(vars))
	}
	var templates strings.Builder
	for _, f := range []string{"operator-config.yaml", "operator-deployment.yaml"} {
		templates.WriteString(readFile(t, filepath.Join(chartDir, "templates", f)))
	}
	for _, v := range vars {
		if !strings.Contains(templates.String(), v[1]+":") && !strings.Contains(templates.String(), "name: "+v[1]+"\n") {
			t.Errorf("the operator reads %s, which the chart never sets: add a value for it", v[1])
		}
	}
}
