// Package predicates decides which watch events are worth a reconcile, for
// every Plattr controller.
package predicates

import (
	"reflect"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/plattr/plattr/internal/capability/workload"
)

// SpecChanged lets through the events of a Plattr resource a reconcile must answer:
// creation, deletion, a new generation (spec change), the start of
// deletion, changes of labels or annotations, and a finalizer removed. A status-only
// update — the operator's own status writes among them — is dropped, so a
// status write can never re-trigger the reconcile that made it.
var SpecChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
			!reflect.DeepEqual(o.GetLabels(), n.GetLabels()) ||
			!reflect.DeepEqual(o.GetAnnotations(), n.GetAnnotations()) ||
			finalizerRemoved(o.GetFinalizers(), n.GetFinalizers())
	},
}

// finalizerRemoved: a finalizer of before is gone. One taken away by hand is
// put back; one added is the reconcile's own write (before its first
// external call), which it goes on from, so it reconciles nothing again.
func finalizerRemoved(before, after []string) bool {
	for _, f := range before {
		if !slices.Contains(after, f) {
			return true
		}
	}
	return false
}

// ChildChanged drops updates of a child that changed only its status or
// bookkeeping (resourceVersion, managedFields). The operator reads no
// child's status but the Deployment's, and an HPA rewrites its status every
// 15 s: reacting to that would reconcile every app four times a minute.
// A change of anything Plattr writes — or a deletion — still reconciles,
// which is how hand edits are reverted at once.
var ChildChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !equality.Semantic.DeepEqual(withoutStatus(e.ObjectOld), withoutStatus(e.ObjectNew))
	},
}

// withoutStatus copies obj without its status and bookkeeping fields.
func withoutStatus(obj client.Object) client.Object {
	c := obj.DeepCopyObject().(client.Object)
	c.SetResourceVersion("")
	c.SetManagedFields(nil)
	c.SetGeneration(0)
	if v := reflect.ValueOf(c).Elem(); v.Kind() == reflect.Struct {
		if f := v.FieldByName("Status"); f.IsValid() && f.CanSet() {
			f.Set(reflect.Zero(f.Type()))
		}
	}
	return c
}

// DeploymentChanged passes a Deployment update only when a reconcile could
// answer it differently: a change of what Plattr wrote (as ChildChanged,
// spec.replicas aside: the HPA owns it and no reconcile writes it), or of
// the rollout's verdicts (workload.RolloutOf: available, complete, stuck
// past its deadline). The Deployment controller rewrites the status for
// every pod of a rollout; each of those reconciled every app of a burst
// several times and wrote nothing.
var DeploymentChanged = predicate.TypedFuncs[client.Object]{
	UpdateFunc: func(e event.TypedUpdateEvent[client.Object]) bool {
		o, okOld := e.ObjectOld.(*appsv1.Deployment)
		n, okNew := e.ObjectNew.(*appsv1.Deployment)
		if !okOld || !okNew {
			return true
		}
		if workload.RolloutOf(o) != workload.RolloutOf(n) {
			return true
		}
		oc, nc := withoutStatus(o).(*appsv1.Deployment), withoutStatus(n).(*appsv1.Deployment)
		oc.Spec.Replicas, nc.Spec.Replicas = nil, nil
		return !equality.Semantic.DeepEqual(oc, nc)
	},
}

// NotCreated drops a child's creation: the reconcile that created it wrote
// it and goes on from there, and after a restart every owner is reconciled
// from its own initial list anyway. A child deleted, or changed (through
// the kind's update predicate), still reconciles its owner.
var NotCreated = predicate.TypedFuncs[client.Object]{
	CreateFunc: func(event.TypedCreateEvent[client.Object]) bool { return false },
}
