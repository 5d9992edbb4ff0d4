package kit

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
)

// A reconcile that starts from a cache which has not seen the last one's
// writes yet writes nothing again: it starts from what those writes
// returned. Once the cache has a version of its own, that is taken.
func TestAReconcileOnAStaleCacheWritesNothingAgain(t *testing.T) {
	ctx := context.Background()
	app := capabilitytest.App("shop", "web")
	k, env := newKit(t, func() *platformv1.Application { return &platformv1.Application{} }, app)
	read := func() *platformv1.Application {
		got := &platformv1.Application{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	// reconcile is one pass over obj: the finalizers, then Provisioning.
	reconcile := func(obj *platformv1.Application) {
		r := Begin(k.Latest(obj))
		if err := k.EnsureMetadata(ctx, r, AddFinalizers[*platformv1.Application]([]string{platformv1.FinalizerDatabase})); err != nil {
			t.Fatal(err)
		}
		r.Obj.Status.Phase = platformv1.PhaseProvisioning
		r.Obj.Status.ObservedGeneration = 1
		if err := k.Patch(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	stale := read() // what a lagging cache still holds
	before := env.Writes()
	reconcile(stale.DeepCopy())
	if n := env.Writes() - before; n != 2 {
		t.Fatalf("%d writes for the first pass, want 2 (finalizers, status)", n)
	}
	before = env.Writes()
	reconcile(stale.DeepCopy())
	if n := env.Writes() - before; n != 0 {
		t.Errorf("%d writes for a second pass on the stale copy, want 0", n)
	}

	// Someone else writes after the kit: the cache's version is taken.
	fresh := read()
	fresh.Status.Phase = platformv1.PhaseFailed
	if err := env.Client.Status().Update(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	newer := read()
	if got := k.Latest(newer.DeepCopy()); got.Status.Phase != platformv1.PhaseFailed || got.ResourceVersion != newer.ResourceVersion {
		t.Errorf("Latest gave phase %s at version %s, want the cache's Failed at %s", got.Status.Phase, got.ResourceVersion, newer.ResourceVersion)
	}
	// … and what the kit remembered is dropped: the stale copy is stale no more.
	if got := k.Latest(stale.DeepCopy()); got.ResourceVersion != stale.ResourceVersion {
		t.Errorf("Latest still remembers after the cache moved on: version %s", got.ResourceVersion)
	}

	// An object re-created under the same name is another object.
	reconcile(read())
	other := stale.DeepCopy()
	other.UID = "another"
	if got := k.Latest(other); got.UID != "another" {
		t.Errorf("Latest gave the old object's copy for a new one")
	}
}

// What the kit remembers is dropped after a minute, whether or not the
// object is reconciled again.
func TestTheMemoryOfWritesIsBounded(t *testing.T) {
	k := &Kit[*platformv1.Application]{}
	old := capabilitytest.App("shop", "old")
	old.ResourceVersion = "2"
	k.remember("1", old)
	k.written.objs[client.ObjectKeyFromObject(old)] = written[*platformv1.Application]{obj: old, superseded: []string{"1"}, at: time.Now().Add(-2 * forgetAfter)}
	k.written.swept = time.Time{}
	fresh := capabilitytest.App("shop", "fresh")
	fresh.ResourceVersion = "4"
	k.remember("3", fresh)
	if _, ok := k.written.objs[client.ObjectKeyFromObject(old)]; ok {
		t.Error("an entry older than forgetAfter is still remembered")
	}
	if _, ok := k.written.objs[client.ObjectKeyFromObject(fresh)]; !ok {
		t.Error("the newest entry was dropped")
	}
}
