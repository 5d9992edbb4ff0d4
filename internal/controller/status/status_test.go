package status_test

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/controller/status"
)

// Nothing is written when only metadata differs; a changed status is.
func TestPatchWritesOnlyAChangedStatus(t *testing.T) {
	ctx := context.Background()
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t, app)
	before := &platformv1.Application{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), before); err != nil {
		t.Fatal(err)
	}
	after := before.DeepCopy()
	after.Labels = map[string]string{"x": "y"}
	if wrote, err := status.Patch(ctx, env.Client, before, after); err != nil || wrote || env.Writes() != 0 {
		t.Fatalf("unchanged status: %d writes (%v)", env.Writes(), err)
	}
	after.Status.Phase = platformv1.PhaseRunning
	if wrote, err := status.Patch(ctx, env.Client, before, after); err != nil || !wrote || env.Writes() != 1 {
		t.Fatalf("changed status: %d writes (%v)", env.Writes(), err)
	}
	got := &platformv1.Application{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil || got.Status.Phase != platformv1.PhaseRunning {
		t.Errorf("phase %q (%v)", got.Status.Phase, err)
	}
}
