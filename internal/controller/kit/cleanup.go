package kit

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/metrics"
)

// EnsureMetadata applies mutate — finalizers to add before the first
// external call, an owner reference — to obj and writes the difference in
// one patch (with optimistic locking), or nothing when there is none. The
// status being built in memory is kept: the patch's answer carries the
// stored one. r.Before's metadata follows, so the status patch compares
// status only.
func (k *Kit[T]) EnsureMetadata(ctx context.Context, r *Run[T], mutate func(T)) error {
	obj := r.Obj
	want := obj.DeepCopyObject().(T)
	mutate(want)
	if equality.Semantic.DeepEqual(metaOf(want), metaOf(obj)) {
		return nil
	}
	defer k.Time("finalizers")()
	patch := client.MergeFromWithOptions(obj.DeepCopyObject().(T), client.MergeFromWithOptimisticLock{})
	building := obj.DeepCopyObject().(T)
	mutate(obj)
	read := obj.GetResourceVersion()
	if err := k.Client.Patch(ctx, obj, patch); err != nil {
		return err
	}
	k.remember(read, obj)
	metrics.FinalizerWrites.WithLabelValues(k.Name).Inc()
	setStatus(obj, building)
	setMeta(r.Before, obj)
	return nil
}

// AddFinalizers is a mutation for EnsureMetadata: each finalizer of add is
// added, each of drop removed.
func AddFinalizers[T Object](add []string, drop ...string) func(T) {
	return func(obj T) {
		for _, f := range add {
			controllerutil.AddFinalizer(obj, f)
		}
		for _, f := range drop {
			controllerutil.RemoveFinalizer(obj, f)
		}
	}
}

// RemoveFinalizers drops the given finalizers, if present, in one write.
func (k *Kit[T]) RemoveFinalizers(ctx context.Context, obj T, finalizers ...string) error {
	patch := client.MergeFromWithOptions(obj.DeepCopyObject().(T), client.MergeFromWithOptimisticLock{})
	changed := false
	for _, f := range finalizers {
		changed = controllerutil.RemoveFinalizer(obj, f) || changed
	}
	if !changed {
		return nil
	}
	defer k.Time("finalizers")()
	metrics.FinalizerWrites.WithLabelValues(k.Name).Inc()
	return client.IgnoreNotFound(k.Client.Patch(ctx, obj, patch))
}

// Step is the external cleanup of one thing an object has, guarded by its
// own finalizer: the finalizer is added before the first call to the
// backend and stays while the object lives, so deletion cleans up exactly
// what was provisioned, whatever the spec says by then.
type Step struct {
	Finalizer string
	// What is cleaned up, for messages: "the database".
	What string
	// Backend is the service and the setting that locates it, for messages;
	// empty for a step in Kubernetes only.
	Backend string
	// Wake is the backend's name (capability.Backend*): an object whose
	// cleanup failed there is retried the moment it answers again.
	Wake string
	// Configured: the operator has this step's backend.
	Configured bool
	// Always: the step runs even when the cleanup is abandoned (it is in
	// Kubernetes, not in a backend).
	Always bool
	Run    func(context.Context) error
}

// ErrCleanupBlocked: the object had something whose backend the operator
// no longer has.
var ErrCleanupBlocked = errors.New("cleanup blocked")

// Cleanup runs the steps whose finalizer the object has, in order. A step
// that fails stops the cleanup: Ready says which backend and why (once per
// new failure an Event too), the status is written, and the object is
// retried with backoff — at once when the backend answers again. The
// annotation platform.internal/abandon-cleanup=true gives up the external
// steps. The finalizers of the steps done, and drop, go in one write at the
// end (or when a step fails), so a restart does not redo a finished step.
func (k *Kit[T]) Cleanup(ctx context.Context, r *Run[T], kind, policy string, steps []Step, drop ...string) (ctrl.Result, error) {
	obj := r.Obj
	abandon := obj.GetAnnotations()[platformv1.AnnotationAbandonCleanup] == "true"
	Terminating(r, "cleaning up")
	done := slices.Clone(drop)
	var left []string
	for _, step := range steps {
		if !controllerutil.ContainsFinalizer(obj, step.Finalizer) {
			continue
		}
		var err error
		switch {
		case abandon && !step.Always:
			left = append(left, step.What)
		case !step.Configured:
			err = fmt.Errorf("%w: the %s had %s but the operator has no %s configured any more; configure it again, or annotate the %s %s=true to leave them behind",
				ErrCleanupBlocked, kind, step.What, step.Backend, kind, platformv1.AnnotationAbandonCleanup)
		default:
			stop := k.Time("cleanup")
			err = step.Run(ctx)
			stop()
			if err != nil {
				k.backends.Failed(step.Wake, obj)
				err = fmt.Errorf("cleaning up %s (deletionPolicy %s) at %s: %w; retrying with backoff — if it cannot come back, annotate the %s %s=true to leave them behind",
					step.What, policy, step.Backend, err, kind, platformv1.AnnotationAbandonCleanup)
			}
		}
		if err != nil {
			reason := platformv1.ReasonCleanupFailed
			if errors.Is(err, ErrCleanupBlocked) {
				reason = platformv1.ReasonCleanupBlocked
			}
			capability.SetCondition(obj, platformv1.ConditionReady, metav1.ConditionFalse, reason, err.Error())
			Terminating(r, err.Error())
			if !sameCondition(r.Before, obj, platformv1.ConditionReady) {
				k.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, platformv1.EventCleanupFailed, "Delete", "%s", err.Error())
			}
			// The status first: the finalizer patch's answer carries the stored status.
			return ctrl.Result{}, errors.Join(err, k.Patch(ctx, r), k.RemoveFinalizers(ctx, obj, done...))
		}
		if !abandon || step.Always {
			k.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, platformv1.EventCleanedUp, "Delete", "%s cleaned up with policy %s", step.What, policy)
		}
		done = append(done, step.Finalizer)
	}
	if len(left) > 0 {
		k.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, platformv1.EventCleanupAbandoned, "Delete",
			"%s=true: left %s behind in the backends; remove them by hand", platformv1.AnnotationAbandonCleanup, strings.Join(left, ", "))
	}
	return ctrl.Result{}, k.RemoveFinalizers(ctx, obj, done...)
}

// sameCondition reports whether a condition is unchanged between two
// versions of an object, so an Event is emitted once per new failure, not
// on every retry.
func sameCondition(before, after capability.Owner, typ string) bool {
	b, a := capability.Condition(before, typ), capability.Condition(after, typ)
	return b != nil && a != nil && b.Status == a.Status && b.Reason == a.Reason && b.Message == a.Message
}

// metaOf is obj's ObjectMeta.
func metaOf(obj client.Object) metav1.ObjectMeta {
	return *reflect.ValueOf(obj).Elem().FieldByName("ObjectMeta").Addr().Interface().(*metav1.ObjectMeta)
}

// setMeta copies from's ObjectMeta into to.
func setMeta(to, from client.Object) {
	m := metaOf(from)
	reflect.ValueOf(to).Elem().FieldByName("ObjectMeta").Set(reflect.ValueOf(*m.DeepCopy()))
}

// setStatus copies from's Status into to.
func setStatus(to, from client.Object) {
	reflect.ValueOf(to).Elem().FieldByName("Status").Set(reflect.ValueOf(from).Elem().FieldByName("Status"))
}
