package mirror

import (
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// AppSummary is an app as listings show it.
type AppSummary struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Environment string    `json:"environment"`
	Framework   string    `json:"framework"`
	Phase       string    `json:"phase"`
	URL         string    `json:"url,omitempty"`
	Image       string    `json:"image,omitempty"`
	Ready       bool      `json:"ready"`
	Deleting    bool      `json:"deleting,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// Summarize describes an app for listings.
func Summarize(a *platformv1.Application) AppSummary {
	ready := false
	for _, c := range a.Status.Conditions {
		if c.Type == platformv1.ConditionReady {
			ready = c.Status == metav1.ConditionTrue
		}
	}
	return AppSummary{
		Namespace: a.Namespace, Name: a.Name, Environment: string(a.Spec.Environment), Framework: string(a.Spec.Framework),
		Phase: string(a.Status.Phase), URL: a.Status.URL, Image: a.Spec.ImageRef, Ready: ready,
		Deleting: a.DeletionTimestamp != nil, CreatedAt: a.CreationTimestamp.UTC(),
	}
}

// Catalog is every app's summary, sorted by namespace and name, kept by
// the Application informer. Listing reads an immutable snapshot: no
// object is copied per request, which the informer cache's List would do.
type Catalog struct {
	mu       sync.Mutex
	apps     map[[2]string]AppSummary
	snapshot []AppSummary // nil when stale
}

func (c *Catalog) set(s AppSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apps == nil {
		c.apps = map[[2]string]AppSummary{}
	}
	key := [2]string{s.Namespace, s.Name}
	if old, ok := c.apps[key]; ok && old == s {
		return
	}
	c.apps[key] = s
	c.snapshot = nil
}

func (c *Catalog) remove(namespace, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.apps, [2]string{namespace, name})
	c.snapshot = nil
}

// Apps returns the sorted summaries; callers must not modify them.
func (c *Catalog) Apps() []AppSummary {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snapshot == nil {
		s := make([]AppSummary, 0, len(c.apps))
		for _, a := range c.apps {
			s = append(s, a)
		}
		slices.SortFunc(s, func(x, y AppSummary) int {
			if d := strings.Compare(x.Namespace, y.Namespace); d != 0 {
				return d
			}
			return strings.Compare(x.Name, y.Name)
		})
		c.snapshot = s
	}
	return c.snapshot
}
