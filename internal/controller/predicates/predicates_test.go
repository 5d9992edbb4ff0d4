package predicates

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// rolling is a Deployment of two replicas whose controller has seen its
// spec, with ready pods of the current version.
func rolling(ready int32) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Generation: 2, ResourceVersion: "1"}}
	d.Spec.Replicas = ptr.To[int32](2)
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: "registry.example.com/web:1"}}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: ready, AvailableReplicas: ready}
	if ready == 2 {
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	}
	return d
}

// A Deployment's update reconciles its owner when, and only when, a
// reconcile could answer it differently.
func TestDeploymentChanged(t *testing.T) {
	edit := func(d *appsv1.Deployment, f func(*appsv1.Deployment)) *appsv1.Deployment {
		c := d.DeepCopy()
		c.ResourceVersion = "2"
		f(c)
		return c
	}
	none := rolling(0)
	for _, tt := range []struct {
		name     string
		old, new *appsv1.Deployment
		want     bool
	}{
		{"the controller counts pods created", none, edit(none, func(d *appsv1.Deployment) { d.Status.Replicas = 3 }), false},
		{"the first of two pods turns ready", none, edit(none, func(d *appsv1.Deployment) { d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1 }), true},
		{"a second pod turns ready: still complete, not available", rolling(1), edit(rolling(1), func(d *appsv1.Deployment) { d.Status.ReadyReplicas = 2 }), false},
		{"both available: Available", rolling(1), rolling(2), true},
		{"the HPA scales a running app", rolling(2), edit(rolling(2), func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](3) }), true},
		{"the HPA's new pod is counted, not ready yet", edit(rolling(2), func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](3) }),
			edit(rolling(2), func(d *appsv1.Deployment) {
				d.Spec.Replicas, d.Status.Replicas, d.Status.UpdatedReplicas = ptr.To[int32](3), 3, 3
			}), false},
		{"a spec change the controller has not seen", rolling(2), edit(rolling(2), func(d *appsv1.Deployment) {
			d.Generation = 3
			d.Spec.Template.Spec.Containers[0].Image = "registry.example.com/web:2"
		}), true},
		{"edited by hand: a label", rolling(2), edit(rolling(2), func(d *appsv1.Deployment) { d.Labels = map[string]string{"x": "y"} }), true},
		{"stuck past its progress deadline", rolling(1), edit(rolling(1), func(d *appsv1.Deployment) {
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}
		}), true},
		{"only bookkeeping", rolling(2), edit(rolling(2), func(d *appsv1.Deployment) {
			d.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}
		}), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := DeploymentChanged.Update(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}); got != tt.want {
				t.Errorf("reconcile = %v, want %v", got, tt.want)
			}
		})
	}
	if !DeploymentChanged.Delete(event.DeleteEvent{Object: rolling(2)}) {
		t.Error("a deleted Deployment does not reconcile its owner")
	}
}

// A child's creation reconciles nothing; its deletion and its updates do.
func TestNotCreated(t *testing.T) {
	var obj client.Object = rolling(2)
	if NotCreated.Create(event.CreateEvent{Object: obj}) {
		t.Error("a child's creation reconciles its owner")
	}
	if !NotCreated.Delete(event.DeleteEvent{Object: obj}) || !NotCreated.Update(event.UpdateEvent{ObjectOld: obj, ObjectNew: obj}) {
		t.Error("a child's deletion or update is dropped")
	}
}

// The reconcile's own finalizer write reconciles nothing again; a finalizer
// taken away by hand does.
func TestSpecChangedFinalizers(t *testing.T) {
	app := &platformv1.Application{ObjectMeta: metav1.ObjectMeta{Name: "a", Generation: 1}}
	with := app.DeepCopy()
	with.Finalizers = []string{platformv1.FinalizerDatabase, platformv1.FinalizerStorage}
	fewer := app.DeepCopy()
	fewer.Finalizers = []string{platformv1.FinalizerStorage}
	for _, tt := range []struct {
		name     string
		old, new *platformv1.Application
		want     bool
	}{
		{"added by the reconcile", app, with, false},
		{"one removed by hand", with, fewer, true},
		{"all removed", with, app, true},
	} {
		if got := SpecChanged.Update(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}); got != tt.want {
			t.Errorf("%s: reconcile = %v, want %v", tt.name, got, tt.want)
		}
	}
}
