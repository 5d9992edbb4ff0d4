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
	// Previews are the app's pull-request previews.
	Previews []PreviewSummary `json:"previews,omitempty"`
}

// PreviewSummary is one preview of an app.
type PreviewSummary struct {
	Name        string     `json:"name"`
	PullRequest int32      `json:"pullRequest"`
	Phase       string     `json:"phase"`
	URL         string     `json:"url,omitempty"`
	Image       string     `json:"image"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
}

// SummarizePreview describes a preview for listings.
func SummarizePreview(pe *platformv1.PreviewEnvironment) PreviewSummary {
	s := PreviewSummary{Name: pe.Name, PullRequest: pe.Spec.PullRequest, Phase: string(pe.Status.Phase), URL: pe.Status.URL, Image: pe.Spec.ImageRef}
	if pe.Status.ExpiresAt != nil {
		t := pe.Status.ExpiresAt.UTC()
		s.ExpiresAt = &t
	}
	return s
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
	previews map[[2]string]map[string]PreviewSummary // parent → preview name → summary
	snapshot []AppSummary                            // nil when stale
}

func (c *Catalog) setPreview(namespace, parent string, p PreviewSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.previews == nil {
		c.previews = map[[2]string]map[string]PreviewSummary{}
	}
	key := [2]string{namespace, parent}
	if c.previews[key] == nil {
		c.previews[key] = map[string]PreviewSummary{}
	}
	if old, ok := c.previews[key][p.Name]; ok && previewEqual(old, p) {
		return
	}
	c.previews[key][p.Name] = p
	c.snapshot = nil
}

func (c *Catalog) removePreview(namespace, parent, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.previews[[2]string{namespace, parent}], name)
	c.snapshot = nil
}

func previewEqual(a, b PreviewSummary) bool {
	return a.Name == b.Name && a.PullRequest == b.PullRequest && a.Phase == b.Phase && a.URL == b.URL && a.Image == b.Image &&
		((a.ExpiresAt == nil) == (b.ExpiresAt == nil)) && (a.ExpiresAt == nil || a.ExpiresAt.Equal(*b.ExpiresAt))
}

func (c *Catalog) set(s AppSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apps == nil {
		c.apps = map[[2]string]AppSummary{}
	}
	key := [2]string{s.Namespace, s.Name}
	if old, ok := c.apps[key]; ok && summaryEqual(old, s) {
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
		for key, a := range c.apps {
			for _, p := range c.previews[key] {
				a.Previews = append(a.Previews, p)
			}
			slices.SortFunc(a.Previews, func(x, y PreviewSummary) int { return int(x.PullRequest - y.PullRequest) })
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

// summaryEqual compares what an app's own events change (its previews
// are kept apart).
func summaryEqual(a, b AppSummary) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name && a.Environment == b.Environment && a.Framework == b.Framework &&
		a.Phase == b.Phase && a.URL == b.URL && a.Image == b.Image && a.Ready == b.Ready && a.Deleting == b.Deleting &&
		a.CreatedAt.Equal(b.CreatedAt)
}
