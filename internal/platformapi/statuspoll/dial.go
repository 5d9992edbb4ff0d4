package statuspoll

import (
	"context"
	"fmt"
	"net"
)

// Addresses no poll may reach, whatever a Service or a DNS name says: the
// cloud metadata services (EC2, GCP, Azure: 169.254.169.254; EC2 over
// IPv6: fd00:ec2::254), all link-local, loopback and unspecified
// addresses, and multicast.
var metadataIPs = []net.IP{net.ParseIP("169.254.169.254"), net.ParseIP("fd00:ec2::254")}

// CheckIP refuses an address a status poll must never reach.
func CheckIP(ip net.IP) error {
	for _, m := range metadataIPs {
		if ip.Equal(m) {
			return fmt.Errorf("%s is a cloud metadata address: %w", ip, errRefused)
		}
	}
	switch {
	case ip.IsLoopback(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(),
		ip.IsMulticast(), ip.IsUnspecified():
		return fmt.Errorf("%s is a loopback, link-local, multicast or unspecified address: %w", ip, errRefused)
	}
	return nil
}

// dial connects only to the address the request's target allows. For a
// Service that is its ClusterIP, checked already; for an operator's
// template, the template's host, each of whose IPs is checked against the
// metadata and link-local addresses (loopback is the operator's choice
// there: a local proxy, a test server).
func (p *Poller) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	t, ok := ctx.Value(targetKey{}).(target)
	if !ok || addr != t.addr {
		return nil, fmt.Errorf("dialling %s: not the app's status address: %w", addr, errRefused)
	}
	connect := p.Dialer
	if connect == nil {
		connect = (&net.Dialer{}).DialContext
	}
	if t.ip != nil {
		return connect(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if err := CheckIP(ip); err != nil && !ip.IsLoopback() {
			return nil, err
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s resolves to no address", host)
	}
	return connect(ctx, network, net.JoinHostPort(ips[0].String(), port))
}
