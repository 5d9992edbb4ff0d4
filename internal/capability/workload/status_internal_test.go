package workload

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestDeploymentAvailable(t *testing.T) {
	available := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	tests := []struct {
		name string
		d    appsv1.Deployment
		want bool
	}{
		{"all updated and available", deploymentWith(3, 3, 3, 3, 1, 1, available), true},
		{"controller has not seen the new spec", deploymentWith(3, 3, 3, 3, 2, 1, available), false},
		{"rollout in progress: old pods remain", deploymentWith(3, 4, 3, 3, 1, 1, available), false},
		{"not enough updated", deploymentWith(3, 3, 2, 3, 1, 1, available), false},
		{"not enough available", deploymentWith(3, 3, 3, 2, 1, 1, available), false},
		{"no Available condition", deploymentWith(1, 1, 1, 1, 1, 1, nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, msg := deploymentAvailable(&tt.d); got != tt.want {
				t.Errorf("deploymentAvailable = %v (%s), want %v", got, msg, tt.want)
			}
		})
	}
}

func deploymentWith(want, replicas, updated, availableReplicas int32, generation, observed int64, conds []appsv1.DeploymentCondition) appsv1.Deployment {
	d := appsv1.Deployment{}
	d.Generation = generation
	d.Spec.Replicas = ptr.To(want)
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated,
		AvailableReplicas: availableReplicas, Conditions: conds,
	}
	return d
}
