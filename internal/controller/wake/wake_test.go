package wake

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func obj(key types.NamespacedName) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
}

// Objects that failed on a backend are queued once it answers, once; a
// backend nobody waits for is not pinged.
func TestBackendsQueueWaitersWhenTheBackendAnswers(t *testing.T) {
	var up atomic.Bool
	var pinged, otherPinged atomic.Int32
	events := make(chan event.TypedGenericEvent[*metav1.PartialObjectMetadata], 10)
	w := NewBackends(20*time.Millisecond, map[string]func(context.Context) error{
		"db": func(context.Context) error {
			pinged.Add(1)
			if up.Load() {
				return nil
			}
			return errors.New("down")
		},
		"idp": func(context.Context) error { otherPinged.Add(1); return nil },
	}, events, obj)
	w.Failed("db", obj(types.NamespacedName{Namespace: "ns", Name: "a"}))
	w.Failed("db", obj(types.NamespacedName{Namespace: "ns", Name: "a"}))
	w.Failed("nobody-watches", obj(types.NamespacedName{Namespace: "ns", Name: "b"}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.Start(ctx) }()

	time.Sleep(100 * time.Millisecond)
	if len(events) != 0 || pinged.Load() == 0 {
		t.Fatalf("while down: %d events, %d pings", len(events), pinged.Load())
	}
	up.Store(true)
	select {
	case ev := <-events:
		if ev.Object.Name != "a" {
			t.Errorf("queued %s, want a", ev.Object.Name)
		}
	case <-time.After(time.Second):
		t.Fatal("not queued after the backend answered")
	}
	time.Sleep(100 * time.Millisecond)
	if len(events) != 0 {
		t.Errorf("queued again: %d more", len(events))
	}
	if otherPinged.Load() != 0 {
		t.Errorf("a backend nobody waits for was pinged %d times", otherPinged.Load())
	}
}
