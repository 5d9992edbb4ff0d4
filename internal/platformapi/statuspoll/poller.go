// Package statuspoll fetches the status each app declares (spec.statusPath)
// every interval, as Platz's status-updates worker does, and records what
// it answered. One replica polls (an advisory lock); a report is written
// only when it changes, so a steady app costs no writes.
package statuspoll

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// DefaultURLTemplate reaches an app through its Service, inside the cluster.
const DefaultURLTemplate = "http://{name}.{namespace}.svc{path}"

// maxBody caps what is stored of an answer.
const maxBody = 64 << 10

// Poller polls every app with a status path.
type Poller struct {
	Apps     client.Reader
	Store    *store.Store
	Interval time.Duration
	Timeout  time.Duration
	// URLTemplate has {name}, {namespace} and {path} replaced.
	URLTemplate string
	HTTP        *http.Client
	Log         logr.Logger
	// Parallel caps polls in flight [32].
	Parallel int
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		if err := p.PollAll(ctx); err != nil && ctx.Err() == nil {
			p.Log.Error(err, "polling app statuses")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PollAll polls every app once.
func (p *Poller) PollAll(ctx context.Context) error {
	list := &platformv1.ApplicationList{}
	if err := p.Apps.List(ctx, list); err != nil {
		return err
	}
	declared := map[store.AppKey]bool{}
	parallel := p.Parallel
	if parallel <= 0 {
		parallel = 32
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range list.Items {
		a := &list.Items[i]
		if a.Spec.StatusPath == "" || a.DeletionTimestamp != nil {
			continue
		}
		key := store.AppKey{Namespace: a.Namespace, Name: a.Name}
		declared[key] = true
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := p.poll(ctx, key, a.Spec.StatusPath)
			if err := p.Store.SetStatusReport(ctx, key, r); err != nil && ctx.Err() == nil {
				p.Log.Error(err, "recording a status report", "app", key.Namespace+"/"+key.Name)
			}
		}()
	}
	wg.Wait()
	// Apps that stopped declaring a status path, or are gone.
	keys, err := p.Store.StatusReportKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if !declared[k] {
			if err := p.Store.DeleteStatusReport(ctx, k); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *Poller) url(key store.AppKey, path string) string {
	tmpl := p.URLTemplate
	if tmpl == "" {
		tmpl = DefaultURLTemplate
	}
	return strings.NewReplacer("{name}", key.Name, "{namespace}", key.Namespace, "{path}", path).Replace(tmpl)
}

func (p *Poller) poll(ctx context.Context, key store.AppKey, path string) store.StatusReport {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url(key, path), nil)
	if err != nil {
		return store.StatusReport{Error: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	hc := p.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return store.StatusReport{Error: fmt.Sprintf("no answer within %s", p.Timeout)}
		}
		return store.StatusReport{Error: "unreachable: " + err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err != nil:
		return store.StatusReport{Error: "reading the answer: " + err.Error()}
	case len(body) > maxBody:
		return store.StatusReport{Error: fmt.Sprintf("the answer is larger than %d KiB", maxBody>>10)}
	case resp.StatusCode != http.StatusOK:
		return store.StatusReport{Error: fmt.Sprintf("HTTP %d from %s", resp.StatusCode, path)}
	case !json.Valid(body):
		return store.StatusReport{Error: path + " did not answer JSON"}
	}
	return store.StatusReport{OK: true, Body: body}
}
