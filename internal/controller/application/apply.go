package application

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

func labels(app *platformv1.Application) map[string]string {
	return map[string]string{
		platformv1.LabelName:        naming.DNSLabel(app.Name),
		platformv1.LabelManagedBy:   platformv1.ManagedByValue,
		platformv1.LabelApp:         app.Name,
		platformv1.LabelEnvironment: string(app.Spec.Environment),
	}
}

// selectorLabels select an app's pods; they never change, because a
// Deployment's selector is immutable.
func selectorLabels(app *platformv1.Application) map[string]string {
	return map[string]string{platformv1.LabelName: naming.DNSLabel(app.Name), platformv1.LabelApp: app.Name}
}

func ownerReference(app *platformv1.Application) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(platformv1.GroupVersion.String()).
		WithKind("Application").
		WithName(app.Name).
		WithUID(app.UID).
		WithController(true).
		WithBlockOwnerDeletion(true)
}

// applyConfiguration is a typed server-side apply configuration of a child.
type applyConfiguration interface {
	runtime.ApplyConfiguration
	GetName() *string
	GetNamespace() *string
	GetKind() *string
}

// applyChild writes desired with server-side apply — unless the fields
// Plattr owns on the live object already equal it, so a reconcile that
// changes nothing writes nothing. A field someone else changed has left our
// ownership, so the comparison catches hand edits, and the forced apply takes
// the field back.
func applyChild[O client.Object, A applyConfiguration](ctx context.Context, r *Reconciler, s *scope, live O, desired A, extract func(O, string) (A, error)) error {
	key := client.ObjectKey{Namespace: *desired.GetNamespace(), Name: *desired.GetName()}
	err := r.Get(ctx, key, live)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	default:
		owned, err := extract(live, FieldManager)
		if err == nil && equality.Semantic.DeepEqual(owned, desired) {
			return nil
		}
	}
	if err := r.Apply(ctx, desired, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return err
	}
	if s.settled {
		// Running at this generation, yet the object was missing or differed:
		// it was deleted or edited by hand.
		r.Recorder.Eventf(s.app, nil, corev1.EventTypeWarning, EventRestored, "Restore",
			"%s %s was changed or deleted outside Plattr and has been restored", *desired.GetKind(), key.Name)
	}
	return nil
}

// deleteChild removes a child the spec no longer asks for, if Plattr owns it.
func deleteChild(ctx context.Context, r *Reconciler, s *scope, obj client.Object, name string) error {
	err := r.Get(ctx, client.ObjectKey{Namespace: s.app.Namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ref := metav1.GetControllerOf(obj); ref == nil || ref.UID != s.app.UID {
		return nil // not ours: leave it
	}
	return client.IgnoreNotFound(r.Delete(ctx, obj, client.Preconditions{UID: ptr.To(obj.GetUID())}))
}
