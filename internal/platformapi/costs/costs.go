// Package costs samples what each app requests (CPU and memory of its
// scheduled pods) at a fixed interval, on one replica, so history exists;
// a summary multiplies the resource-hours by a configurable price table.
// Storage is not priced yet: the platform API has no access to the object
// store's usage figures.
package costs

import (
	"context"
	"math"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// Prices are what a unit costs.
type Prices struct {
	CPUCoreHour   float64 `json:"cpuCoreHour"`
	MemoryGiBHour float64 `json:"memoryGiBHour"`
	Currency      string  `json:"currency"`
}

// Sampler records each app's requests.
type Sampler struct {
	Cache    client.Reader
	Store    *store.Store
	Interval time.Duration
	Log      logr.Logger
}

// Run samples every interval until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	if s.Interval <= 0 {
		return
	}
	for {
		next := time.Now().Truncate(s.Interval).Add(s.Interval)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		if _, err := s.SampleAt(ctx, next, s.Interval); err != nil && ctx.Err() == nil {
			s.Log.Error(err, "sampling requested resources")
		}
	}
}

// SampleAt records every app's requests as of now, standing for interval
// of usage in the slot at; it returns how many apps were sampled.
func (s *Sampler) SampleAt(ctx context.Context, at time.Time, interval time.Duration) (int, error) {
	pods := &corev1.PodList{}
	if err := s.Cache.List(ctx, pods, client.MatchingLabels{platformv1.LabelManagedBy: platformv1.ManagedByValue}); err != nil {
		return 0, err
	}
	tenants := &platformv1.TenantList{}
	if err := s.Cache.List(ctx, tenants); err != nil {
		return 0, err
	}
	tenantOf := map[string]string{}
	for _, t := range tenants.Items {
		for _, env := range t.Spec.Environments {
			tenantOf[t.NamespaceFor(env)] = t.Name
		}
	}
	type usage struct{ cpu, mem float64 }
	byApp := map[store.AppKey]*usage{}
	for i := range pods.Items {
		p := &pods.Items[i]
		app := p.Labels[platformv1.LabelApp]
		// Requests hold a node's capacity once the pod is scheduled, until
		// it ends.
		if app == "" || p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		key := store.AppKey{Namespace: p.Namespace, Name: app}
		u := byApp[key]
		if u == nil {
			u = &usage{}
			byApp[key] = u
		}
		for _, c := range p.Spec.Containers {
			u.cpu += c.Resources.Requests.Cpu().AsApproximateFloat64()
			u.mem += c.Resources.Requests.Memory().AsApproximateFloat64() / (1 << 30)
		}
	}
	samples := make([]store.CostSample, 0, len(byApp))
	for key, u := range byApp {
		samples = append(samples, store.CostSample{
			At: at.UTC(), App: key, Tenant: tenantOf[key.Namespace], CPUCores: u.cpu, MemoryGiB: u.mem, IntervalSeconds: interval.Seconds(),
		})
	}
	return len(samples), s.Store.InsertCostSamples(ctx, samples)
}

// AppCost is one app's cost over a period.
type AppCost struct {
	Namespace      string  `json:"namespace"`
	App            string  `json:"app"`
	CPUCoreHours   float64 `json:"cpuCoreHours"`
	MemoryGiBHours float64 `json:"memoryGiBHours"`
	Cost           float64 `json:"cost"`
	// Deleted marks what deleted apps of this name used (site admins only).
	Deleted bool `json:"deleted,omitempty"`
}

// TenantCost is one tenant's apps; Tenant is empty for shared namespaces.
type TenantCost struct {
	Tenant string    `json:"tenant"`
	Cost   float64   `json:"cost"`
	Apps   []AppCost `json:"apps"`
}

// Summary is the cost of a period.
type Summary struct {
	From    time.Time    `json:"from"`
	To      time.Time    `json:"to"`
	Prices  Prices       `json:"prices"`
	Total   float64      `json:"total"`
	Tenants []TenantCost `json:"tenants"`
}

// Summarize prices usage; visible filters the apps the caller may see.
func Summarize(from, to time.Time, prices Prices, usage []store.Usage, visible func(store.AppKey) bool) Summary {
	out := Summary{From: from, To: to, Prices: prices, Tenants: []TenantCost{}}
	index := map[string]int{}
	for _, u := range usage {
		if !visible(u.App) {
			continue
		}
		i, ok := index[u.Tenant]
		if !ok {
			i = len(out.Tenants)
			index[u.Tenant] = i
			out.Tenants = append(out.Tenants, TenantCost{Tenant: u.Tenant, Apps: []AppCost{}})
		}
		cost := round(u.CPUCoreHours*prices.CPUCoreHour + u.MemoryGiBHours*prices.MemoryGiBHour)
		out.Tenants[i].Apps = append(out.Tenants[i].Apps, AppCost{
			Namespace: u.App.Namespace, App: u.App.Name, CPUCoreHours: round(u.CPUCoreHours), MemoryGiBHours: round(u.MemoryGiBHours), Cost: cost,
			Deleted: u.Retired,
		})
		out.Tenants[i].Cost = round(out.Tenants[i].Cost + cost)
		out.Total = round(out.Total + cost)
	}
	return out
}

// round keeps six decimals: money to a millionth, without float noise.
func round(f float64) float64 { return math.Round(f*1e6) / 1e6 }
