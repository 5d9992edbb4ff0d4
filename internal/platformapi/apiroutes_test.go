package platformapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// TestAppViewShowsItsAPIRoutes: GET /api/v1/apps/{ns}/{name} carries
// spec.api's paths on the aggregator's host with their state, and who
// holds a path the app lost.
func TestAppViewShowsItsAPIRoutes(t *testing.T) {
	ctx := context.Background()
	c := admin(t)
	if err := kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plattr-system"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	agg := &platformv1.ApiAggregator{ObjectMeta: metav1.ObjectMeta{Namespace: "plattr-system", Name: "apiview"},
		Spec: platformv1.ApiAggregatorSpec{Hostname: "api.view.test", NamespaceSelector: &metav1.LabelSelector{}}}
	if err := kube.Create(ctx, agg); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	s := spec("registry.example.com/routes:1")
	s.API = &platformv1.ApplicationAPI{Aggregator: "apiview", Routes: []platformv1.ApplicationAPIRoute{{Path: "/view"}}}
	createAppSpec(t, c, "team-a", "routes", s)
	var v struct {
		APIHost   string                      `json:"apiHost"`
		APIRoutes []platformv1.ApiRouteStatus `json:"apiRoutes"`
	}
	eventually(t, 90*time.Second, "the app view's routes", func() error {
		code, body := c.do(t, "GET", "/api/v1/apps/team-a/routes", nil, &v)
		if code != 200 || v.APIHost != "api.view.test" || len(v.APIRoutes) != 1 || v.APIRoutes[0].State != platformv1.ApiRouteActive {
			return fmt.Errorf("HTTP %d: %s", code, body)
		}
		return nil
	})
}
