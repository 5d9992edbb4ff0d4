// Package status writes an object's status only when it changed, so a
// reconcile that finds nothing new writes nothing — and a status write can
// never feed the reconcile that made it.
package status

import (
	"context"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Patch writes after's status as a merge patch against before, unless the
// two statuses are equal; it reports whether it wrote. An object deleted
// meanwhile is no error.
func Patch(ctx context.Context, c client.Client, before, after client.Object) (bool, error) {
	if equality.Semantic.DeepEqual(statusOf(before), statusOf(after)) {
		return false, nil
	}
	err := c.Status().Patch(ctx, after, client.MergeFrom(before))
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return err == nil, err
}

// statusOf is the object's Status field.
func statusOf(obj client.Object) any {
	return reflect.ValueOf(obj).Elem().FieldByName("Status").Interface()
}
