package cli_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// TestStatusPrintsTheAppsAPIRoutes: `plattr status` shows spec.api's
// paths on the aggregator's host with their state.
func TestStatusPrintsTheAppsAPIRoutes(t *testing.T) {
	ctx := context.Background()
	c := k8s(t)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plattr-system"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	agg := &platformv1.ApiAggregator{ObjectMeta: metav1.ObjectMeta{Namespace: "plattr-system", Name: "cli"},
		Spec: platformv1.ApiAggregatorSpec{Hostname: "api.cli.test", NamespaceSelector: &metav1.LabelSelector{}}}
	if err := c.Create(ctx, agg); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	extra := `  api:
    aggregator: cli
    routes:
      - path: /cli-orders
`
	out, err := plattr(t, "deploy", "-f", manifest(t, fmt.Sprintf(appYAML, "routed", extra)), "--wait", "--timeout", "90s")
	if err != nil {
		t.Fatalf("deploy --wait: %v\n%s", err, out)
	}
	var status string
	eventually(t, 30*time.Second, "status to show the route", func() error {
		status, err = plattr(t, "status", "routed")
		if err != nil {
			return err
		}
		for _, want := range []string{"ApiReady", "API ROUTE", "api.cli.test/cli-orders", "Active"} {
			if !strings.Contains(status, want) {
				return fmt.Errorf("status lacks %q:\n%s", want, status)
			}
		}
		return nil
	})
}
