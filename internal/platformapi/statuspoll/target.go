package statuspoll

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

// target is where one poll goes: the URL asked for, the Host header, and
// the only address the dialer may connect to for it.
type target struct {
	url, host string
	// addr is host:port of the only connection allowed; ip, when set, is
	// the one IP it may resolve to (the Service's ClusterIP).
	addr string
	ip   net.IP
}

type targetKey struct{}

func withTarget(ctx context.Context, t target) context.Context {
	return context.WithValue(ctx, targetKey{}, t)
}

// OwnService is the app's own Service, or why there is none: the one
// Plattr made (named after the app's workload), whose controller is this
// Application, of type ClusterIP with a cluster IP and a selector, with
// the "http" port. A Service a tenant made under the app's name — an
// ExternalName to another host, a ClusterIP of its own — is none of these.
func OwnService(ctx context.Context, c client.Reader, a *platformv1.Application) (*corev1.Service, int32, error) {
	name := naming.ObjectsFor(a.Name).Workload
	svc := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: name}, svc); err != nil {
		return nil, 0, fmt.Errorf("Service %s: %w", name, err)
	}
	ref := metavOwner(svc)
	gv := schema.FromAPIVersionAndKind(ref.apiVersion, ref.kind).GroupVersion()
	switch {
	case ref.uid == "" || ref.uid != string(a.UID) || ref.kind != "Application" || gv.Group != platformv1.GroupVersion.Group:
		return nil, 0, fmt.Errorf("Service %s is not controlled by this Application", name)
	case svc.Spec.Type != corev1.ServiceTypeClusterIP:
		return nil, 0, fmt.Errorf("Service %s is of type %s, not ClusterIP", name, svc.Spec.Type)
	case svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone:
		return nil, 0, fmt.Errorf("Service %s has no cluster IP", name)
	case len(svc.Spec.Selector) == 0:
		return nil, 0, fmt.Errorf("Service %s selects no pods", name)
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
			return svc, p.Port, nil
		}
	}
	return nil, 0, fmt.Errorf("Service %s has no http port", name)
}

type ownerRef struct{ apiVersion, kind, uid string }

func metavOwner(svc *corev1.Service) ownerRef {
	for _, r := range svc.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return ownerRef{r.APIVersion, r.Kind, string(r.UID)}
		}
	}
	return ownerRef{}
}

func (p *Poller) target(ctx context.Context, a *platformv1.Application, path string) (target, error) {
	services := p.Services
	if services == nil {
		services = p.Apps
	}
	svc, port, err := OwnService(ctx, services, a)
	if err != nil {
		return target{}, err
	}
	ip := net.ParseIP(svc.Spec.ClusterIP)
	if ip == nil {
		return target{}, fmt.Errorf("Service %s: cluster IP %q is not an IP", svc.Name, svc.Spec.ClusterIP)
	}
	if err := CheckIP(ip); err != nil {
		return target{}, fmt.Errorf("Service %s: %w", svc.Name, err)
	}
	host := svc.Name + "." + svc.Namespace + ".svc"
	if p.URLTemplate == "" || p.URLTemplate == DefaultURLTemplate {
		addr := net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
		return target{url: "http://" + addr + path, host: host, addr: addr, ip: ip}, nil
	}
	raw := strings.NewReplacer("{name}", svc.Name, "{namespace}", svc.Namespace, "{path}", path).Replace(p.URLTemplate)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return target{}, fmt.Errorf("STATUS_URL_TEMPLATE gives %q, not an http URL", raw)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return target{url: raw, host: u.Host, addr: addr}, nil
}
