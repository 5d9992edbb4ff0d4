package deploytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/stack/proc"
	"github.com/plattr/plattr/internal/testenv"
)

const ns = "plattr-system"

// TestChartInstallOnCluster installs the chart as a platform team would,
// onto a control plane without Plattr's CRDs, in a namespace that enforces
// the restricted Pod Security profile. Every rendered object must be
// accepted and both Deployments become available (on simulated nodes).
// Then the operator and API binaries run with the environment the chart's
// Deployments define (ConfigMap, Secret references, downward API) and the
// chart's ServiceAccount tokens — only their listen addresses move to free
// local ports — and an app created through the API reaches Running: the
// chart's RBAC and configuration are enough. Upgrade to a new image tag and
// uninstall behave as charts/plattr/README.md says: CRDs, apps and their
// data are kept, and installing again adopts them.
func TestChartInstallOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane, PostgreSQL and an object store")
	}
	helm := tool(t, "helm")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	bins := buildBinaries(t)
	cluster, err := testenv.StartBareCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	s3, err := testenv.StartObjectStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Stop()
	kubeconfig := cluster.Plane.Kubeconfig()
	ca := cluster.Config.CAData
	if len(ca) == 0 {
		if ca, err = os.ReadFile(cluster.Config.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	cs := kubernetes.NewForConfigOrDie(cluster.Config)
	c, err := client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}

	// What the platform team has: the Prometheus Operator's CRDs (so the
	// chart's ServiceMonitors and PrometheusRule are checked against their
	// real schemas), a namespace enforcing the restricted profile, and the
	// Secrets the chart refers to.
	applyCRDs(t, ctx, c, tool(t, "monitoring-crds"))
	mustCreate(t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted"}}})
	pgExec(t, ctx, pg.URL(), "CREATE DATABASE plattr_api")
	apiDB := strings.Replace(pg.URL(), "/postgres?", "/plattr_api?", 1)
	mustCreate(t, c, secret("plattr-db", map[string]string{"DB_ADMIN_URL": pg.URL()}))
	mustCreate(t, c, secret("plattr-api-db", map[string]string{"DATABASE_URL": apiDB}))
	mustCreate(t, c, secret("plattr-s3", map[string]string{"S3_ACCESS_KEY_ID": s3.AccessKey, "S3_SECRET_ACCESS_KEY": s3.SecretKey}))

	values := []string{
		"--set", "image.registry=registry.test/plattr",
		"--set", "operator.baseDomain=apps.test",
		"--set", "operator.database.adminUrlSecret.name=plattr-db",
		"--set", "operator.objectStore.endpoint=" + s3.Endpoint(),
		"--set", "operator.objectStore.adminEndpoint=" + s3.AdminEndpoint(),
		"--set", "operator.objectStore.credentialsSecret.name=plattr-s3",
		"--set", "api.databaseUrlSecret.name=plattr-api-db",
		"--set", "api.siteAdmins={admin@example.com}",
		"--set", "operator.environmentQuotas.staging.pods=150",
		"--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.prometheusRule.enabled=true",
		"--set", "metrics.dashboard.enabled=true",
	}
	start := time.Now()
	mustRun(t, helm, append([]string{"install", "plattr", chartDir, "-n", ns, "--kubeconfig", kubeconfig,
		"--wait", "--timeout", "3m", "--set", "image.tag=v1"}, values...)...)
	installed := time.Since(start)

	// Every object of the release exists as rendered.
	manifest := mustRun(t, helm, "get", "manifest", "plattr", "-n", ns, "--kubeconfig", kubeconfig)
	objs := decode(t, manifest)
	dyn := dynamic.NewForConfigOrDie(cluster.Config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cluster.Config)))
	for _, o := range objs {
		m, err := mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
		if err != nil {
			t.Fatalf("%s: %v", o.GetKind(), err)
		}
		var r dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			r = dyn.Resource(m.Resource).Namespace(ns)
		}
		if _, err := r.Get(ctx, o.GetName(), metav1.GetOptions{}); err != nil {
			t.Errorf("%s %s not in the cluster: %v", o.GetKind(), o.GetName(), err)
		}
	}
	if got := kinds(objs); len(got) < 22 {
		t.Errorf("%d objects in the release; want at least 22: %v", len(got), got)
	}

	// The operator, as its Deployment runs it.
	opEnv := containerEnv(t, ctx, cs, "plattr-operator", "operator")
	metricsPort, healthPort := freePort(t), freePort(t)
	opEnv["METRICS_ADDR"] = fmt.Sprintf("127.0.0.1:%d", metricsPort)
	opEnv["HEALTH_ADDR"] = fmt.Sprintf("127.0.0.1:%d", healthPort)
	opKubeconfig := serviceAccountKubeconfig(t, ctx, cs, cluster.Config.Host, ca, "plattr-operator")
	stopOp := startProcess(t, bins.operator, opEnv, opKubeconfig)
	waitHTTP(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort))

	// The API, as its Deployment runs it.
	apiEnv := containerEnv(t, ctx, cs, "plattr-api", "api")
	apiPort, apiMetricsPort := freePort(t), freePort(t)
	apiEnv["LISTEN_ADDR"] = fmt.Sprintf("127.0.0.1:%d", apiPort)
	apiEnv["METRICS_ADDR"] = fmt.Sprintf("127.0.0.1:%d", apiMetricsPort)
	apiKubeconfig := serviceAccountKubeconfig(t, ctx, cs, cluster.Config.Host, ca, "plattr-api")
	stopAPI := startProcess(t, bins.api, apiEnv, apiKubeconfig, "serve")
	apiURL := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	waitHTTP(t, ctx, apiURL+"/readyz")
	tokenCmd := exec.CommandContext(ctx, bins.api, "token", "--email", "admin@example.com")
	tokenCmd.Env = envList(apiEnv)
	tok, err := tokenCmd.Output()
	if err != nil {
		t.Fatalf("plattr-api token: %v", err)
	}

	// An app, created through the API (which writes it with its own
	// ServiceAccount), provisioned by the operator (with its own).
	body, _ := json.Marshal(map[string]any{"namespace": "staging", "name": "shop", "spec": platformv1.ApplicationSpec{
		Repository: "github.com/example/shop", Framework: "docker", Environment: platformv1.EnvironmentStaging,
		ImageRef: "registry.example.com/shop:1.0.0", Port: 8080,
		Database: &platformv1.DatabaseSpec{Enabled: true},
		Storage:  &platformv1.StorageSpec{Enabled: true, Buckets: []platformv1.BucketSpec{{Name: "uploads"}}},
	}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+"/api/v1/apps", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /api/v1/apps: %s %s", resp.Status, respBody)
	}
	app := waitRunning(t, ctx, c, "staging", "shop")
	running := time.Since(start)
	t.Logf("helm install --wait: %s; helm install to the app Running: %s", installed.Round(time.Millisecond), running.Round(time.Millisecond))
	if app.Status.URL != "https://shop.staging.apps.test" && !strings.Contains(app.Status.URL, "apps.test") {
		t.Errorf("app URL %q: BASE_DOMAIN from the chart did not reach it", app.Status.URL)
	}

	// The chart's admission policy refuses an app in a namespace of another
	// environment, naming the field (staging is one of the environment
	// namespaces the operator labelled).
	wrong := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "staging", Name: "misplaced"},
		Spec: platformv1.ApplicationSpec{Repository: "github.com/example/x", Framework: "docker",
			Environment: platformv1.EnvironmentProduction, ImageRef: "registry.example.com/x:1", Port: 8080}}
	if err := c.Create(ctx, wrong); err == nil || !strings.Contains(err.Error(), "spec.environment") {
		t.Errorf("a production app in staging: %v; want the admission policy's refusal", err)
	}
	// The chart's policy on the operator's ServiceAccount, which wrote the
	// app's Secrets above: as that ServiceAccount (its own token), a Secret
	// without Plattr's label, or a RoleBinding outside a tenant's namespace,
	// is refused.
	opCfg, err := clientcmd.BuildConfigFromFlags("", opKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	asOp, err := client.New(opCfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := asOp.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "staging", Name: "loose"}}, client.DryRunAll); err == nil ||
		!strings.Contains(err.Error(), "managed-by=plattr") {
		t.Errorf("the operator's ServiceAccount created an unlabelled Secret: %v; want the chart's policy to refuse it", err)
	}
	grab := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "staging", Name: "grab",
		Labels: map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "someone@example.com"}}}
	if err := asOp.Create(ctx, grab, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "tenant namespace") {
		t.Errorf("the operator's ServiceAccount bound admin in a namespace of no tenant: %v; want the chart's policy to refuse it", err)
	}
	// The chart's tenant roles: edit in a namespace lets a user create
	// Applications there (the aggregation controller folds them in).
	editRB := grab.DeepCopy()
	editRB.Name, editRB.Labels, editRB.RoleRef.Name = "dev-edit", nil, "edit"
	editRB.Subjects[0].Name = "dev@example.com"
	mustCreate(t, c, editRB)
	waitFor(t, ctx, func() bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "dev@example.com",
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "staging", Verb: "create", Group: platformv1.GroupVersion.Group, Resource: "applications"}}}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		return err == nil && got.Status.Allowed
	}, "a user holding edit in staging may create Applications (the chart's aggregated role)")
	// The environment namespaces are guarded with the chart's quota.
	quota, err := cs.CoreV1().ResourceQuotas("staging").Get(ctx, "plattr", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pods := quota.Spec.Hard[corev1.ResourcePods]; pods.String() != "150" {
		t.Errorf("staging quota %v: want pods 150 from operator.environmentQuotas", quota.Spec.Hard)
	}

	// The metrics the alerts and dashboard use are exported by the operator
	// the chart configured.
	scrape := httpGet(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	for _, name := range metricNames(t)["plattr-operator"] {
		// Per NatsUser: this install has no NATS server, so no user.
		if name == "plattr_nats_user_credentials_expiry_timestamp_seconds" {
			continue
		}
		if !strings.Contains(scrape, "\n"+name) {
			t.Errorf("the alerts or the dashboard use %s, which the operator does not export", name)
		}
	}

	// The API's metrics are on their own port (the chart's metrics
	// Service), not on the address the portal and API are served at.
	scrape = httpGet(t, ctx, fmt.Sprintf("http://127.0.0.1:%d/metrics", apiMetricsPort))
	for _, name := range metricNames(t)["plattr-api"] {
		if !strings.Contains(scrape, "\n"+name) {
			t.Errorf("the alerts or the dashboard use %s, which the API does not export", name)
		}
	}

	// Upgrade to a new image tag with a chart whose Application CRD
	// changed (as a new release's would): the Deployments roll to the tag,
	// the CRD is upgraded in place — what Helm's crds/ would not do — and
	// the app is untouched.
	newChart := chartWithChangedCRD(t)
	mustRun(t, helm, append([]string{"upgrade", "plattr", newChart, "-n", ns, "--kubeconfig", kubeconfig,
		"--wait", "--timeout", "3m", "--set", "image.tag=v2"}, values...)...)
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := c.Get(ctx, client.ObjectKey{Name: "applications.platform.internal"}, crd); err != nil {
		t.Fatal(err)
	}
	if crd.GetAnnotations()["plattr.test/next-release"] != "true" {
		t.Errorf("helm upgrade did not upgrade the CRD: annotations %v", crd.GetAnnotations())
	}
	for _, name := range []string{"plattr-operator", "plattr-api"} {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.test/plattr/"+name+":v2" {
			t.Errorf("after upgrade %s runs %s", name, img)
		}
		if d.Status.UpdatedReplicas != 2 || d.Status.AvailableReplicas != 2 {
			t.Errorf("after upgrade %s: %d updated, %d available", name, d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
		}
	}
	if got := waitRunning(t, ctx, c, "staging", "shop"); got.Generation != app.Generation {
		t.Errorf("the upgrade changed the app: generation %d → %d", app.Generation, got.Generation)
	}

	// Uninstall: the release goes, the CRDs, the app and its data stay.
	stopAPI()
	stopOp()
	mustRun(t, helm, "uninstall", "plattr", "-n", ns, "--kubeconfig", kubeconfig, "--wait", "--timeout", "2m")
	for _, name := range []string{"plattr-operator", "plattr-api"} {
		if _, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Deployment %s after uninstall: %v", name, err)
		}
		if _, err := cs.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRole %s after uninstall: %v", name, err)
		}
	}
	kept := &platformv1.Application{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "staging", Name: "shop"}, kept); err != nil {
		t.Fatalf("the app is gone after uninstall: %v", err)
	}
	if _, err := cs.CoreV1().Secrets("staging").Get(ctx, "shop-db", metav1.GetOptions{}); err != nil {
		t.Errorf("the app's database Secret is gone after uninstall: %v", err)
	}
	var schemas int
	pgQuery(t, ctx, pg.URL(), "SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%shop%'", &schemas)
	if schemas == 0 {
		t.Error("the app's schema is gone after uninstall")
	}

	// Installing again adopts the kept CRDs.
	mustRun(t, helm, append([]string{"install", "plattr", chartDir, "-n", ns, "--kubeconfig", kubeconfig,
		"--wait", "--timeout", "3m", "--set", "image.tag=v2"}, values...)...)
	if err := c.Get(ctx, client.ObjectKey{Namespace: "staging", Name: "shop"}, kept); err != nil {
		t.Fatalf("the app is gone after installing again: %v", err)
	}
}

// chartWithChangedCRD copies the chart and changes its Application CRD, as
// the next release's chart would.
func chartWithChangedCRD(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plattr")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "files", "crds", "platform.internal_applications.yaml")
	objs := decode(t, readFile(t, path))
	ann := objs[0].GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann["plattr.test/next-release"] = "true"
	objs[0].SetAnnotations(ann)
	b, err := yaml.Marshal(objs[0].Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// applyCRDs applies every CRD file in dir and waits until each is
// Established.
func applyCRDs(t *testing.T, ctx context.Context, c client.Client, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no CRDs in %s: run `make tools`", dir)
	}
	for _, f := range files {
		for _, obj := range decode(t, readFile(t, f)) {
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("test"), client.ForceOwnership); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			name := obj.GetName()
			waitFor(t, ctx, func() bool {
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(obj.GroupVersionKind())
				if c.Get(ctx, client.ObjectKey{Name: name}, got) != nil {
					return false
				}
				conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
				for _, cond := range conds {
					if m, ok := cond.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
						return true
					}
				}
				return false
			}, "CRD "+name+" established")
		}
	}
}

func waitFor(t *testing.T, ctx context.Context, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type binaries struct{ operator, api string }

// buildBinaries builds the two commands the images carry.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	dir := t.TempDir()
	b := binaries{operator: filepath.Join(dir, "plattr-operator"), api: filepath.Join(dir, "plattr-api")}
	mustRun(t, "go", "build", "-o", b.operator, "./cmd/operator")
	mustRun(t, "go", "build", "-o", b.api, "./cmd/plattr-api")
	return b
}

// containerEnv resolves a container's environment as the kubelet would:
// envFrom ConfigMaps, values, Secret and ConfigMap keys, the pod's
// namespace and name, and resource limits.
func containerEnv(t *testing.T, ctx context.Context, cs kubernetes.Interface, deployment, container string) map[string]string {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ctr *corev1.Container
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == container {
			ctr = &d.Spec.Template.Spec.Containers[i]
		}
	}
	if ctr == nil {
		t.Fatalf("no container %s in %s", container, deployment)
	}
	env := map[string]string{}
	for _, from := range ctr.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("envFrom %+v: only ConfigMaps are expected", from)
		}
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, e.ValueFrom.SecretKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: %v", e.Name, err)
			}
			v, ok := s.Data[e.ValueFrom.SecretKeyRef.Key]
			if !ok {
				t.Fatalf("%s: Secret %s has no key %s", e.Name, s.Name, e.ValueFrom.SecretKeyRef.Key)
			}
			env[e.Name] = string(v)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = ns
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = deployment + "-test-pod"
		case e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
			env[e.Name] = fmt.Sprint(ctr.Resources.Limits.Memory().Value())
		default:
			t.Fatalf("%s: cannot resolve %+v", e.Name, e.ValueFrom)
		}
	}
	return env
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount, with a token from the TokenRequest API, as a pod's
// projected token does.
func serviceAccountKubeconfig(t *testing.T, ctx context.Context, cs kubernetes.Interface, host string, ca []byte, sa string) string {
	t.Helper()
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s: %v", sa, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: ca}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "sa"}
	cfg.CurrentContext = "c"
	path := filepath.Join(t.TempDir(), sa+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// startProcess runs bin with exactly env (and KUBECONFIG); its output is
// shown if the test fails. The returned func stops it.
func startProcess(t *testing.T, bin string, env map[string]string, kubeconfig string, args ...string) func() {
	t.Helper()
	env["KUBECONFIG"] = kubeconfig
	cmd := exec.Command(bin, args...)
	cmd.Env = envList(env)
	logPath := filepath.Join(t.TempDir(), filepath.Base(bin)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("%s output (tail):\n%s", filepath.Base(bin), b)
		}
	})
	return stop
}

func envList(env map[string]string) []string {
	// PATH and HOME only: everything else comes from the chart.
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func waitHTTP(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func httpGet(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func waitRunning(t *testing.T, ctx context.Context, c client.Client, namespace, name string) *platformv1.Application {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		app := &platformv1.Application{}
		err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, app)
		if err == nil && app.Status.Phase == platformv1.PhaseRunning {
			return app
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s not Running: phase %q, conditions %+v (err %v)", namespace, name, app.Status.Phase, app.Status.Conditions, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustCreate(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func secret(name string, data map[string]string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
}

func pgExec(t *testing.T, ctx context.Context, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

func pgQuery(t *testing.T, ctx context.Context, url, sql string, into any) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(into); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }
