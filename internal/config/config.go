// Package config reads the operator's configuration from the environment
// (SPEC §5). Every problem is reported at start, naming the variable and the
// fix; there are no built-in passwords.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Operator is the operator's configuration.
type Operator struct {
	DBAdminURL string // DB_ADMIN_URL (required)
	DBHost     string // DB_HOST: host written into app Secrets, when it differs from the admin URL's
	BaseDomain string // BASE_DOMAIN (required)

	IngressClass  string // INGRESS_CLASS [nginx]
	ClusterIssuer string // CLUSTER_ISSUER [letsencrypt-prod]

	LeaderElection  bool     // LEADER_ELECTION [false]
	LeaseNamespace  string   // LEASE_NAMESPACE (required with leader election)
	WatchNamespaces []string // WATCH_NAMESPACES, comma-separated [all]

	MetricsAddr string // METRICS_ADDR [:9090]: /metrics, /healthz, /readyz

	MaxConcurrentReconciles int     // MAX_CONCURRENT_RECONCILES [4]
	KubeAPIQPS              float32 // KUBE_API_QPS [50]
	KubeAPIBurst            int     // KUBE_API_BURST [100]

	PreviewMaxTTL time.Duration // PREVIEW_MAX_TTL [720h]
}

// FromEnv reads the configuration from the process environment.
func FromEnv() (Operator, error) { return Parse(os.Getenv) }

// Parse reads the configuration through getenv and reports every problem
// at once.
func Parse(getenv func(string) string) (Operator, error) {
	var errs []error
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	required := func(name, hint string) string {
		v := get(name, "")
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is not set: %s", name, hint))
		}
		return v
	}
	integer := func(name string, def int) int {
		v := get(name, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive whole number", name, v))
			return def
		}
		return n
	}

	c := Operator{
		DBAdminURL:              required("DB_ADMIN_URL", "set it to the PostgreSQL admin connection, postgres://user:password@host:5432/db"),
		DBHost:                  get("DB_HOST", ""),
		BaseDomain:              required("BASE_DOMAIN", "set it to the domain apps are served under, e.g. apps.example.com"),
		IngressClass:            get("INGRESS_CLASS", "nginx"),
		ClusterIssuer:           get("CLUSTER_ISSUER", "letsencrypt-prod"),
		LeaseNamespace:          get("LEASE_NAMESPACE", ""),
		MetricsAddr:             get("METRICS_ADDR", ":9090"),
		MaxConcurrentReconciles: integer("MAX_CONCURRENT_RECONCILES", 4),
		KubeAPIQPS:              float32(integer("KUBE_API_QPS", 50)),
		KubeAPIBurst:            integer("KUBE_API_BURST", 100),
	}
	if c.DBAdminURL != "" {
		u, err := url.Parse(c.DBAdminURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			// The value is not quoted: it holds a password.
			errs = append(errs, errors.New("DB_ADMIN_URL is not a PostgreSQL URL: want postgres://user:password@host:5432/db"))
		}
	}
	switch v := strings.ToLower(get("LEADER_ELECTION", "false")); v {
	case "true", "1", "yes":
		c.LeaderElection = true
		if c.LeaseNamespace == "" {
			errs = append(errs, errors.New("LEASE_NAMESPACE is not set: leader election needs the namespace of its Lease, e.g. plattr-system"))
		}
	case "false", "0", "no":
	default:
		errs = append(errs, fmt.Errorf("LEADER_ELECTION=%q: want true or false", v))
	}
	for _, ns := range strings.Split(get("WATCH_NAMESPACES", ""), ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			c.WatchNamespaces = append(c.WatchNamespaces, ns)
		}
	}
	ttl := get("PREVIEW_MAX_TTL", "720h")
	d, err := ParseTTL(ttl)
	if err != nil {
		errs = append(errs, fmt.Errorf("PREVIEW_MAX_TTL=%q: %w", ttl, err))
	}
	c.PreviewMaxTTL = d
	return c, errors.Join(errs...)
}

// ParseTTL reads a duration written as a number and a unit m, h or d.
func ParseTTL(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, errors.New("want a number followed by m, h or d, like 72h")
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive number followed by m, h or d, like 72h")
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[s[len(s)-1]]
	if unit == 0 {
		return 0, errors.New("want a unit of m, h or d, like 72h")
	}
	return time.Duration(n) * unit, nil
}
