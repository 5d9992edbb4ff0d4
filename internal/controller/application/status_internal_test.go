package application

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/plattr/plattr/internal/config"
)

func TestRetriesBackOffExponentiallyToTheCap(t *testing.T) {
	limiter := retryLimiter(5 * time.Minute)
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "app"}}
	var got []time.Duration
	for range 12 {
		got = append(got, limiter.When(req))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("retry intervals %v, want %v seconds", got, want)
		}
	}
	limiter.Forget(req) // a success
	if d := limiter.When(req); d != time.Second {
		t.Errorf("after a success the next failure waits %s, want 1s", d)
	}
}

func TestResyncIsSpread(t *testing.T) {
	r := &Reconciler{Config: config.Operator{ResyncInterval: time.Hour}}
	seen := map[time.Duration]bool{}
	for range 50 {
		d := r.resyncAfter()
		if d < 54*time.Minute || d > 66*time.Minute {
			t.Fatalf("resync after %s, want within 10%% of 1h", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("resync intervals are not spread: %v", seen)
	}
}

func TestDeploymentAvailable(t *testing.T) {
	available := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	tests := []struct {
		name string
		d    appsv1.Deployment
		want bool
	}{
		{"all updated and available", deployment(3, 3, 3, 3, 1, 1, available), true},
		{"controller has not seen the new spec", deployment(3, 3, 3, 3, 2, 1, available), false},
		{"rollout in progress: old pods remain", deployment(3, 4, 3, 3, 1, 1, available), false},
		{"not enough updated", deployment(3, 3, 2, 3, 1, 1, available), false},
		{"not enough available", deployment(3, 3, 3, 2, 1, 1, available), false},
		{"no Available condition", deployment(1, 1, 1, 1, 1, 1, nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, msg := deploymentAvailable(&tt.d); got != tt.want {
				t.Errorf("deploymentAvailable = %v (%s), want %v", got, msg, tt.want)
			}
		})
	}
}

func deployment(want, replicas, updated, availableReplicas int32, generation, observed int64, conds []appsv1.DeploymentCondition) appsv1.Deployment {
	d := appsv1.Deployment{}
	d.Generation = generation
	d.Spec.Replicas = ptr.To(want)
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated,
		AvailableReplicas: availableReplicas, Conditions: conds,
	}
	return d
}
