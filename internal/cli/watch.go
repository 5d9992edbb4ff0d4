package cli

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// errDeleted: the watched object was deleted.
var errDeleted = errors.New("it was deleted")

// watchObject calls fn with the object now and after every change, until
// fn reports done or fails, or ctx ends — by watching, not polling. A
// watch the server closes is opened again from the last version seen.
func watchObject[T client.Object, L client.ObjectList](ctx context.Context, c client.WithWatch, key client.ObjectKey, obj T, list L, fn func(T) (bool, error)) error {
	if err := c.Get(ctx, key, obj); err != nil {
		return err
	}
	if done, err := fn(obj); done || err != nil {
		return err
	}
	rv := obj.GetResourceVersion()
	for {
		w, err := c.Watch(ctx, list, client.InNamespace(key.Namespace),
			client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", key.Name)},
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		if err != nil {
			return err
		}
		done, err := drain(ctx, w, &rv, fn)
		w.Stop()
		if done || err != nil {
			return err
		}
	}
}

// drain feeds fn the watch's events until it closes (done false), fn is
// done, or ctx ends.
func drain[T client.Object](ctx context.Context, w watch.Interface, rv *string, fn func(T) (bool, error)) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			switch ev.Type {
			case watch.Error:
				return false, nil // e.g. the version is too old: watch again
			case watch.Deleted:
				return true, errDeleted
			}
			obj, ok := ev.Object.(T)
			if !ok {
				continue
			}
			if m, err := meta.Accessor(obj); err == nil {
				*rv = m.GetResourceVersion()
			}
			if done, err := fn(obj); done || err != nil {
				return true, err
			}
		}
	}
}
