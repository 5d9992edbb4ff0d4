package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The requests a typed client sends are counted under the resource, the
// subresource and the verb the API server would log. The server here only
// answers 404: what is counted is what left the client.
func TestCountKubeRequestsNamesResourceAndVerb(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL}
	CountKubeRequests(cfg)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	KubeRequests.Reset()
	KubeRequestDuration.Reset()
	_, _ = cs.CoreV1().Secrets("shop").Get(ctx, "web-db", metav1.GetOptions{})
	_, _ = cs.CoreV1().Secrets("shop").List(ctx, metav1.ListOptions{})
	if w, err := cs.CoreV1().Secrets("shop").Watch(ctx, metav1.ListOptions{}); err == nil {
		w.Stop()
	}
	_, _ = cs.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{})
	_, _ = cs.AppsV1().Deployments("shop").Apply(ctx, appsv1ac.Deployment("web", "shop"), metav1.ApplyOptions{FieldManager: "plattr", Force: true})
	_, _ = cs.AppsV1().Deployments("shop").UpdateStatus(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}, metav1.UpdateOptions{})
	_, _ = cs.AppsV1().Deployments("shop").Patch(ctx, "web", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}, "status")
	_, _ = cs.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{})
	_ = cs.CoreV1().Services("shop").Delete(ctx, "web", metav1.DeleteOptions{})

	for _, c := range []struct{ resource, sub, verb string }{
		{"secrets", "", "get"},
		{"secrets", "", "list"},
		{"secrets", "", "watch"},
		{"namespaces", "", "get"},
		{"deployments.apps", "", "apply"},
		{"deployments.apps", "status", "update"},
		{"deployments.apps", "status", "patch"},
		{"serviceaccounts", "", "create"},
		{"services", "", "delete"},
	} {
		if got := testutil.ToFloat64(KubeRequests.WithLabelValues(c.resource, c.sub, c.verb)); got != 1 {
			t.Errorf("%s/%s %s counted %v times, want 1", c.resource, c.sub, c.verb, got)
		}
	}
	if n := testutil.CollectAndCount(KubeRequests); n != 9 {
		t.Errorf("%d series, want 9 (one per request)", n)
	}
	if n := testutil.CollectAndCount(KubeRequestDuration); n != 8 {
		t.Errorf("%d duration series, want 8 (one per request but the watch)", n)
	}
}
