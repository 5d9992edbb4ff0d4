package nats

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// CredentialsExpiry is when each NatsUser's JWT expires: the alert
	// PlattrNatsCredentialsExpiring fires when one is near and was not
	// re-signed.
	CredentialsExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "plattr_nats_user_credentials_expiry_timestamp_seconds",
		Help: "When the JWT in each NatsUser's credentials Secret expires, as a Unix time.",
	}, []string{"namespace", "name"})
	// SecretWrites counts writes of NatsUsers' credentials Secrets: a
	// reconcile that changes nothing writes none.
	SecretWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "plattr_nats_credentials_secret_writes_total",
		Help: "Writes of NatsUser credentials Secrets (new keys, re-signs).",
	})
)

func init() { ctrlmetrics.Registry.MustRegister(CredentialsExpiry, SecretWrites) }
