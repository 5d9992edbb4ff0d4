package stack_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/stack"
)

// checkPublicAggregator: the local stack's ApiAggregator public, for
// api.<BASE_DOMAIN>, is Accepted by the stack's operator and owns its
// Gateway.
func checkPublicAggregator(t *testing.T, kubeconfig string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Namespace: stack.PlatformNamespace, Name: stack.PublicAggregator}
	var last string
	err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		a := &platformv1.ApiAggregator{}
		if err := c.Get(ctx, key, a); err != nil {
			last = err.Error()
			return false, nil
		}
		if a.Spec.Hostname != "api."+stack.BaseDomain {
			return false, fmt.Errorf("hostname %s, want api.%s", a.Spec.Hostname, stack.BaseDomain)
		}
		gw := &gatewayv1.Gateway{}
		if err := c.Get(ctx, key, gw); err != nil {
			last = "Gateway: " + err.Error()
			return false, nil
		}
		for _, cond := range a.Status.Conditions {
			if cond.Type == platformv1.ConditionAccepted && cond.Status == "True" {
				return true, nil
			}
		}
		last = fmt.Sprintf("conditions %v", a.Status.Conditions)
		return false, nil
	})
	if err != nil {
		t.Errorf("ApiAggregator public: %v (%s)", err, last)
	}
}
