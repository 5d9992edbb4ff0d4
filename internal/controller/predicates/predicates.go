// Package predicates decides which watch events are worth a reconcile, for
// every Plattr controller.
package predicates

import (
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// SpecChanged lets through the events of a Plattr resource a reconcile must answer:
// creation, deletion, a new generation (spec change), the start of
// deletion, and changes of labels, annotations or finalizers. A status-only
// update — the operator's own status writes among them — is dropped, so a
// status write can never re-trigger the reconcile that made it.
var SpecChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		return o.GetGeneration() != n.GetGeneration() ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp()) ||
			!reflect.DeepEqual(o.GetLabels(), n.GetLabels()) ||
			!reflect.DeepEqual(o.GetAnnotations(), n.GetAnnotations()) ||
			!reflect.DeepEqual(o.GetFinalizers(), n.GetFinalizers())
	},
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
