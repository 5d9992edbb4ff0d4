package preview

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/controller/wake"
)

var created = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func preview(name, ttl string) *platformv1.PreviewEnvironment {
	return &platformv1.PreviewEnvironment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec:       platformv1.PreviewEnvironmentSpec{ApplicationRef: "web", PullRequest: 1, ImageRef: "x", TTL: ttl},
	}
}

// expiresAt follows from creation and ttl only, capped by PREVIEW_MAX_TTL.
func TestExpiresAt(t *testing.T) {
	r := &Reconciler{Deps: kit.Deps{Config: config.Operator{PreviewMaxTTL: 7 * 24 * time.Hour}}}
	for _, tt := range []struct {
		ttl  string
		want time.Duration
	}{
		{"", 72 * time.Hour}, {"30m", 30 * time.Minute}, {"2d", 48 * time.Hour}, {"30d", 7 * 24 * time.Hour},
	} {
		got, err := r.expiresAt(preview("p", tt.ttl))
		if err != nil || !got.Equal(created.Add(tt.want)) {
			t.Errorf("ttl %q: expires %v (%v), want creation + %s", tt.ttl, got, err, tt.want)
		}
	}
	if _, err := r.expiresAt(preview("p", "3w")); err == nil {
		t.Error("ttl 3w accepted")
	}
}

// The sweep deletes expired previews only, by the injected clock, and only
// on the leader.
func TestSweepDeletesOnlyExpiredPreviews(t *testing.T) {
	env := capabilitytest.NewEnv(t, preview("old", "1h"), preview("young", "3h"))
	r := &Reconciler{Deps: kit.Deps{Client: env.Client, Recorder: events.NewFakeRecorder(10),
		Config: config.Operator{PreviewMaxTTL: 720 * time.Hour},
		Clock:  clocktesting.NewFakePassiveClock(created.Add(2 * time.Hour))}}
	if !wake.OnLeader(r.sweepExpired).NeedLeaderElection() {
		t.Fatal("the sweep would run on every replica")
	}
	n, err := r.deleteExpired(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("swept %d (%v), want 1", n, err)
	}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "old"}, &platformv1.PreviewEnvironment{}); err == nil {
		t.Error("the expired preview is still there")
	}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "young"}, &platformv1.PreviewEnvironment{}); err != nil {
		t.Errorf("the preview that has not expired is gone: %v", err)
	}
}

// A child leads back to its preview through its labels; other objects do not.
func TestPreviewOfChild(t *testing.T) {
	pe := preview("web-pr-1", "")
	child := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Labels: childLabels(pe)}}
	got := previewOfChild(context.Background(), child)
	if len(got) != 1 || got[0].Namespace != "shop" || got[0].Name != "web-pr-1" {
		t.Errorf("mapped to %v", got)
	}
	foreign := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{platformv1.LabelPreview: "web-pr-1"}}}
	if got := previewOfChild(context.Background(), foreign); len(got) != 0 {
		t.Errorf("an object Plattr does not manage mapped to %v", got)
	}
}

// Regression: recording the owner and finalizers patched the object, and
// the patch's answer replaced the status being built in memory, so a
// preview that reached Running in its first reconcile was written without
// its expiresAt (seen as a flaky integration test).
func TestEnsureMetadataKeepsTheStatusBeingBuilt(t *testing.T) {
	env := capabilitytest.NewEnv(t, preview("p", "1h"))
	r := &Reconciler{Deps: kit.Deps{Client: env.Client}}
	r.kit = r.newKit()
	pe := &platformv1.PreviewEnvironment{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "p"}, pe); err != nil {
		t.Fatal(err)
	}
	run := kit.Begin(pe)
	expires := metav1.NewTime(created.Add(time.Hour))
	pe.Status.ExpiresAt, pe.Status.Phase = &expires, platformv1.PhaseRunning
	parent := capabilitytest.App("shop", "web")
	parent.UID = "parent-uid"
	if err := r.kit.EnsureMetadata(context.Background(), run, r.metadata(parent)); err != nil {
		t.Fatal(err)
	}
	if len(pe.OwnerReferences) != 1 || env.Writes() != 1 {
		t.Fatalf("owner references %v after %d writes", pe.OwnerReferences, env.Writes())
	}
	if pe.Status.ExpiresAt == nil || !pe.Status.ExpiresAt.Equal(&expires) || pe.Status.Phase != platformv1.PhaseRunning {
		t.Fatalf("status after recording the metadata: %+v", pe.Status)
	}
}
