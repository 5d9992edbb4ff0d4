// Package statuspoll fetches the status each app declares (spec.statusPath)
// every interval, as Platz's status-updates worker does, and records what
// it answered. One replica polls (an advisory lock); a report is written
// only when it changes, and a body that changes on every poll at most once
// per debounce window, so a steady app costs no writes and a chatty one a
// bounded few.
//
// The status path is the tenant's input, and what it answers is shown back
// to the tenant: the poller reaches only the app's own Service (owned by
// the Application, type ClusterIP), dials that Service's IP itself, never
// follows a redirect, never goes through a proxy, caps the body, and keeps
// the details of a failure for its log (target.go, dial.go).
package statuspoll

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// DefaultURLTemplate is the default STATUS_URL_TEMPLATE. It is not a URL
// the poller resolves: with it, the poller dials the ClusterIP of the app's
// own Service, with this name as the Host header.
const DefaultURLTemplate = "http://{name}.{namespace}.svc{path}"

// maxBody caps what is read and stored of an answer.
const maxBody = 64 << 10

// DefaultDebounce is how long a report whose body changed waits before it
// is stored again.
const DefaultDebounce = 60 * time.Second

// Poller polls every app with a status path.
type Poller struct {
	Apps client.Reader
	// Services reads the apps' Services [Apps].
	Services client.Reader
	Store    *store.Store
	Interval time.Duration
	Timeout  time.Duration
	// URLTemplate has {name} (the app's Service), {namespace} and {path}
	// replaced. Empty or DefaultURLTemplate: the Service's ClusterIP is
	// dialled. Another template is the operator's (a proxy, a test server):
	// only its host is dialled, and the app's own Service must still exist.
	URLTemplate string
	// Dialer makes the connection once the address passed the checks
	// [net.Dialer]; tests map a Service's ClusterIP to a local server.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Debounce spaces the writes of a body that keeps changing
	// [DefaultDebounce]. A change of OK or of the error is written at once.
	Debounce time.Duration
	Log      logr.Logger
	// Parallel caps polls in flight [32], and never above half the store's
	// connections: each poll ends in a write, and the API's requests need
	// the rest of the pool.
	Parallel int

	once sync.Once
	hc   *http.Client
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

// Concurrency is how many polls run at once.
func (p *Poller) Concurrency() int {
	n := p.Parallel
	if n <= 0 {
		n = 32
	}
	if p.Store != nil && p.Store.Pool != nil {
		if max := int(p.Store.Pool.Config().MaxConns) / 2; n > max {
			n = max
		}
	}
	return max(n, 1)
}

// PollAll polls every app once.
func (p *Poller) PollAll(ctx context.Context) error {
	list := &platformv1.ApplicationList{}
	if err := p.Apps.List(ctx, list); err != nil {
		return err
	}
	declared := map[store.AppKey]bool{}
	sem := make(chan struct{}, p.Concurrency())
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
			r := p.poll(ctx, a)
			if err := p.Store.SetStatusReport(ctx, key, r, p.debounce()); err != nil && ctx.Err() == nil {
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

func (p *Poller) debounce() time.Duration {
	if p.Debounce > 0 {
		return p.Debounce
	}
	return DefaultDebounce
}

// What a report says when the poll failed: the same few sentences whatever
// answered, so a report never carries another host's words; the details
// go to the log.
const (
	msgNoService  = "the app has no Service of its own to poll yet (a ClusterIP Service made by Plattr for this app)"
	msgNoAnswer   = "the app's status endpoint did not answer"
	msgRedirect   = "the app's status endpoint answered a redirect, which is not followed: spec.statusPath must answer 200 with JSON itself"
	msgTooLarge   = "the app's status answer is larger than 64 KiB"
	msgNotJSON    = "the app's status endpoint did not answer JSON"
	msgBadPath    = "spec.statusPath is not a plain absolute path: want e.g. /status"
	msgTimeoutFmt = "the app's status endpoint did not answer within %s"
)

func (p *Poller) poll(ctx context.Context, a *platformv1.Application) store.StatusReport {
	log := p.Log.WithValues("app", a.Namespace+"/"+a.Name)
	path, err := ParsePath(a.Spec.StatusPath)
	if err != nil {
		return store.StatusReport{Error: msgBadPath}
	}
	tg, err := p.target(ctx, a, path)
	if err != nil {
		log.V(1).Info("not polling", "reason", err.Error())
		return store.StatusReport{Error: msgNoService}
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(withTarget(ctx, tg), http.MethodGet, tg.url, nil)
	if err != nil {
		return store.StatusReport{Error: msgBadPath}
	}
	req.Host = tg.host
	req.Header.Set("Accept", "application/json")
	resp, err := p.client().Do(req)
	if err != nil {
		log.V(1).Info("status poll failed", "error", err.Error())
		if ctx.Err() != nil {
			return store.StatusReport{Error: fmt.Sprintf(msgTimeoutFmt, p.Timeout)}
		}
		return store.StatusReport{Error: msgNoAnswer}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return store.StatusReport{Error: msgRedirect}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err != nil:
		log.V(1).Info("reading a status answer", "error", err.Error())
		return store.StatusReport{Error: msgNoAnswer}
	case len(body) > maxBody:
		return store.StatusReport{Error: msgTooLarge}
	case resp.StatusCode != http.StatusOK:
		return store.StatusReport{Error: fmt.Sprintf("the app's status endpoint answered HTTP %d at %s", resp.StatusCode, path)}
	case !json.Valid(body):
		return store.StatusReport{Error: msgNotJSON}
	}
	sum := sha256.Sum256(body)
	return store.StatusReport{OK: true, Body: body, BodySHA256: hex.EncodeToString(sum[:])}
}

func (p *Poller) client() *http.Client {
	p.once.Do(func() {
		p.hc = &http.Client{
			Transport: &http.Transport{
				// Never a proxy from the environment: it would dial for us,
				// past the checks.
				Proxy:                  nil,
				DialContext:            p.dial,
				DisableKeepAlives:      true,
				MaxResponseHeaderBytes: 16 << 10,
				TLSHandshakeTimeout:    5 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return p.hc
}

var errRefused = errors.New("address refused")
