package application

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/kit"
)

func TestRetriesBackOffExponentiallyToTheCap(t *testing.T) {
	limiter := kit.RetryLimiter(5 * time.Minute)
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "app"}}
	var got []time.Duration
	for range 12 {
		got = append(got, limiter.When(req))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("retry intervals %v, want %v seconds", got, want)
		}
	}
	limiter.Forget(req) // a success
	if d := limiter.When(req); d != time.Second {
		t.Errorf("after a success the next failure waits %s, want 1s", d)
	}
}

func TestResyncIsSpread(t *testing.T) {
	r := &Reconciler{Deps: kit.Deps{Config: config.Operator{ResyncInterval: time.Hour}}}
	seen := map[time.Duration]bool{}
	for range 50 {
		d := r.resyncAfter()
		if d < 54*time.Minute || d > 66*time.Minute {
			t.Fatalf("resync after %s, want within 10%% of 1h", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("resync intervals are not spread: %v", seen)
	}
}
