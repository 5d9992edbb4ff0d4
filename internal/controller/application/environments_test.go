package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/testenv"
)

// The operator keeps the environment namespaces, and the admission policy
// keeps every Application in a namespace of its own environment; an
// unlabelled namespace takes any app.
func TestEnvironmentNamespacesAreKeptAndAppsMustMatchThem(t *testing.T) {
	prod := "prod-" + testenv.RandomString(5)
	restartOperatorWith(t, func(c *config.Operator) {
		c.EnvironmentNamespaces = []config.EnvironmentNamespace{{Namespace: prod, Environment: platformv1.EnvironmentProduction}}
	})
	ctx := context.Background()
	eventually(t, runningTimeout, "the production namespace with its guards", func() error {
		ns := &corev1.Namespace{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: prod}, ns); err != nil {
			return err
		}
		if ns.Labels[platformv1.LabelEnvironment] != "production" {
			return fmt.Errorf("labels %v", ns.Labels)
		}
		for _, obj := range []client.Object{&corev1.ResourceQuota{}, &corev1.LimitRange{}, &networkingv1.NetworkPolicy{}} {
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: prod, Name: "plattr"}, obj); err != nil {
				return fmt.Errorf("%T: %w", obj, err)
			}
		}
		return nil
	})

	// Kept, not rewritten: another pass (a restart) writes nothing.
	mark := writes.mark()
	stopOperator()
	startOperatorWith(t, func(c *config.Operator) {
		c.EnvironmentNamespaces = []config.EnvironmentNamespace{{Namespace: prod, Environment: platformv1.EnvironmentProduction}}
	})
	time.Sleep(3 * time.Second)
	for w, n := range writes.since(mark) {
		if strings.Contains(w, prod) {
			t.Errorf("a kept environment namespace was written again: %s ×%d", w, n)
		}
	}

	// The policy takes a moment to be enforced after it is installed.
	eventually(t, runningTimeout, "a staging app to be refused in the production namespace", func() error {
		app := newApp(prod, "misplaced")
		err := k8s.Create(ctx, app)
		if err == nil {
			_ = k8s.Delete(ctx, app)
			return fmt.Errorf("admitted")
		}
		if !strings.Contains(err.Error(), "spec.environment") || !strings.Contains(err.Error(), "labelled platform.internal/environment=production") {
			t.Fatalf("refused without naming the field and the fix: %v", err)
		}
		return nil
	})
	create(t, newApp(prod, "placed", func(a *platformv1.Application) { a.Spec.Environment = platformv1.EnvironmentProduction }))
	waitSettled(t, prod, "placed")
	deleteApp(t, prod, "placed")
	waitGone(t, prod, "placed")
}
