package platformapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/platformapi/costs"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// Costs for a known set of requests and prices equal the hand-computed
// figure. The app's two pods each request 100m CPU and 128Mi for the app
// container and 50m and 64Mi for PostgREST: 0.3 cores and 0.375 GiB.
// Two hourly samples at 0.04/core-hour and 0.005/GiB-hour:
// 0.3×2×0.04 + 0.375×2×0.005 = 0.024 + 0.00375 = 0.02775.
func TestCostSummaryMatchesHandComputedFigure(t *testing.T) {
	ctx := context.Background()
	c := admin(t)
	install := createApp(t, c, "team-a", "costly", "registry.example.com/costly:1")
	waitTask(t, c, install.ID, store.TaskDone)
	waitPhase(t, c, "team-a", "costly", "Running")

	sampler := &costs.Sampler{Cache: kube, Store: db}
	slot := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ {
		if _, err := sampler.SampleAt(ctx, slot.Add(time.Duration(i)*time.Hour), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// The same slot sampled again (a restart) does not count twice.
	if _, err := sampler.SampleAt(ctx, slot, time.Hour); err != nil {
		t.Fatal(err)
	}
	var sum costs.Summary
	c.must(t, 200, "GET", "/api/v1/costs/summary?from=2020-01-01&to=2020-01-02", nil, &sum)
	var got *costs.AppCost
	for _, tc := range sum.Tenants {
		for i, a := range tc.Apps {
			if a.Namespace == "team-a" && a.App == "costly" {
				got = &tc.Apps[i]
			}
		}
	}
	if got == nil {
		t.Fatalf("costly is not in the summary: %+v", sum)
	}
	if got.CPUCoreHours != 0.6 || got.MemoryGiBHours != 0.75 || got.Cost != 0.02775 || sum.Prices.Currency != "EUR" {
		t.Fatalf("costly = %+v, prices %+v; want 0.6 core-hours, 0.75 GiB-hours, 0.02775", *got, sum.Prices)
	}
	// Someone without a role on the app does not see its cost.
	var other costs.Summary
	asUser(t, "cost-outsider@plattr.test").must(t, 200, "GET", "/api/v1/costs/summary?from=2020-01-01&to=2020-01-02", nil, &other)
	if len(other.Tenants) != 0 || other.Total != 0 {
		t.Fatalf("an outsider sees costs: %+v", other)
	}
	if code, body := c.do(t, "GET", "/api/v1/costs/summary?from=yesterday", nil, nil); code != 400 {
		t.Fatalf("bad from: HTTP %d %s", code, body)
	}
}
