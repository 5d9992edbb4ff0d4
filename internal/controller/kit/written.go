package kit

import (
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The cache lags the kit's own writes. A reconcile that ran before the
// cache had seen the one before it started from the older object: it wrote
// the same status again (a write per app of a burst for one in two) and a
// finalizer patch with optimistic locking failed on it, a retry with
// backoff. So the kit remembers, per object, the object its last writes
// returned and the versions they replaced; Latest hands that back while the
// cache still holds one of those versions. Anything newer than the kit's
// write reaches the cache as a new version, which the kit then takes.

// written is the object the last writes returned, and the resource
// versions those writes superseded.
type written[T Object] struct {
	obj        T
	superseded []string
	at         time.Time
}

type memory[T Object] struct {
	mu    sync.Mutex
	objs  map[types.NamespacedName]written[T]
	swept time.Time
}

// forgetAfter bounds the memory: a cache this far behind is not lagging
// but broken, and an object settled since is not kept twice.
const forgetAfter = time.Minute

// Latest is cached, or the object the kit's own last writes returned while
// the cache has not seen them yet (a copy: the caller may change it).
func (k *Kit[T]) Latest(cached T) T {
	key := client.ObjectKeyFromObject(cached)
	k.written.mu.Lock()
	defer k.written.mu.Unlock()
	w, ok := k.written.objs[key]
	if !ok {
		return cached
	}
	if slices.Contains(w.superseded, cached.GetResourceVersion()) && w.obj.GetUID() == cached.GetUID() {
		return w.obj.DeepCopyObject().(T)
	}
	// The cache has caught up (or someone wrote after the kit): it is the
	// latest.
	delete(k.written.objs, key)
	return cached
}

// Forget drops what the kit remembers of an object that is gone.
func (k *Kit[T]) Forget(key types.NamespacedName) {
	k.written.mu.Lock()
	defer k.written.mu.Unlock()
	delete(k.written.objs, key)
}

// remember records that a write replaced version before of obj with obj
// (as the API server returned it).
func (k *Kit[T]) remember(before string, obj T) {
	if before == "" || before == obj.GetResourceVersion() {
		return
	}
	key := client.ObjectKeyFromObject(obj)
	k.written.mu.Lock()
	defer k.written.mu.Unlock()
	if k.written.objs == nil {
		k.written.objs = map[types.NamespacedName]written[T]{}
	}
	superseded := []string{before}
	if w, ok := k.written.objs[key]; ok && w.obj.GetResourceVersion() == before {
		// A second write in a row (the status after the finalizers): the
		// versions the first replaced are older still.
		superseded = append(superseded, w.superseded...)
	}
	now := time.Now()
	k.written.objs[key] = written[T]{obj: obj.DeepCopyObject().(T), superseded: superseded, at: now}
	if now.Sub(k.written.swept) > forgetAfter {
		for key, w := range k.written.objs {
			if now.Sub(w.at) > forgetAfter {
				delete(k.written.objs, key)
			}
		}
		k.written.swept = now
	}
}
