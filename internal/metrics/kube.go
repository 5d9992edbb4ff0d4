package metrics

import (
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// CountKubeRequests makes every client built from cfg (the manager's
// client, its caches, the API reader, the event recorder) count its
// requests in plattr_kube_requests_total and time them in
// plattr_kube_request_duration_seconds. client-go's own
// rest_client_requests_total has no resource label, so it cannot say which
// writes an app costs.
func CountKubeRequests(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt} })
}

type countingTransport struct{ next http.RoundTripper }

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resource, sub, verb := describe(req)
	KubeRequests.WithLabelValues(resource, sub, verb).Inc()
	if verb == "watch" {
		return t.next.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	KubeRequestDuration.WithLabelValues(resource, sub, verb).Observe(time.Since(start).Seconds())
	return resp, err
}

// describe names a request's resource (with its API group, as kubectl
// does: deployments.apps), subresource and verb, from its method and path:
// /api/v1/namespaces/ns/secrets/name, /apis/apps/v1/namespaces/ns/deployments/name/status.
func describe(req *http.Request) (resource, subresource, verb string) {
	segs := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	group := ""
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		segs = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		group, segs = segs[1], segs[3:]
	default:
		return "other", "", strings.ToLower(req.Method)
	}
	if len(segs) >= 3 && segs[0] == "namespaces" {
		segs = segs[2:] // a namespaced resource
	}
	name := ""
	if len(segs) > 0 {
		resource = segs[0]
	}
	if len(segs) > 1 {
		name = segs[1]
	}
	if len(segs) > 2 {
		subresource = segs[2]
	}
	if group != "" && resource != "" {
		resource += "." + group
	}
	switch req.Method {
	case http.MethodGet:
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			verb = "watch"
		case name == "":
			verb = "list"
		default:
			verb = "get"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
		if strings.HasPrefix(req.Header.Get("Content-Type"), "application/apply-patch") {
			verb = "apply"
		}
	case http.MethodDelete:
		verb = "delete"
		if name == "" {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(req.Method)
	}
	return resource, subresource, verb
}
