package config

import (
	"fmt"
	"net/url"

	"k8s.io/apimachinery/pkg/util/validation"
)

// NATS is the operator's NATS server for NatsAccounts and NatsUsers;
// optional: without NATS_URL they wait with MessagingNotConfigured.
type NATS struct {
	// URL is the server's client URL, as workloads reach it (NATS_URL).
	URL string
	// OperatorSecret, in the platform namespace, holds the operator signing
	// key's seed under key seed (NATS_OPERATOR_SECRET [plattr-nats-operator]).
	OperatorSecret string
	// SystemSecret, in the platform namespace, holds a system-account
	// user's .creds under user.creds (NATS_SYSTEM_SECRET [plattr-nats-system]).
	SystemSecret string
}

// parseNATS reads the NATS settings, reporting problems through fail.
func parseNATS(get func(string, string) string, fail func(error)) NATS {
	n := NATS{
		URL:            get("NATS_URL", ""),
		OperatorSecret: get("NATS_OPERATOR_SECRET", "plattr-nats-operator"),
		SystemSecret:   get("NATS_SYSTEM_SECRET", "plattr-nats-system"),
	}
	if n.URL != "" {
		if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			fail(fmt.Errorf("NATS_URL=%q: want nats://host:4222 or tls://host:4222", n.URL))
		}
	}
	for k, v := range map[string]string{"NATS_OPERATOR_SECRET": n.OperatorSecret, "NATS_SYSTEM_SECRET": n.SystemSecret} {
		if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
			fail(fmt.Errorf("%s=%q is not a Secret name", k, v))
		}
	}
	return n
}
