// Package nats reconciles NatsAccounts and NatsUsers on the owner kit: an
// account's key made once and its JWT pushed to the server's resolver only
// when the decoded claims differ; a user's key made once and kept in its
// Secret, its JWT re-signed only when its claims change or it nears expiry,
// a new key only on a rotation, the old key revoked (pushed, code 200)
// before the Secret changes or the user goes.
package nats

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nkeys"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability/messaging"
)

// Config locates the operator's NATS server and its keys.
type Config struct {
	// URL is the server's client URL (NATS_URL); empty: no NATS.
	URL string
	// PlatformNamespace holds NatsAccounts and the Secrets below.
	PlatformNamespace string
	// OperatorSecret holds the operator signing key's seed under key seed.
	OperatorSecret string
	// SystemSecret holds the system-account user's .creds under user.creds.
	SystemSecret string
}

// Default Secret names.
const (
	DefaultOperatorSecret = "plattr-nats-operator"
	DefaultSystemSecret   = "plattr-nats-system"
)

// provider builds the messaging capability from the Secrets on first use,
// and again after a failure (a Secret created later, a key replaced).
type provider struct {
	cfg    Config
	reader client.Reader

	mu  sync.Mutex
	cap *messaging.Capability
}

func (p *provider) get(ctx context.Context) (*messaging.Capability, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cap != nil {
		return p.cap, nil
	}
	if p.cfg.URL == "" {
		return nil, fmt.Errorf("the operator has no NATS server: set NATS_URL and the Secrets %s and %s in %s", p.secret(p.cfg.OperatorSecret, DefaultOperatorSecret), p.secret(p.cfg.SystemSecret, DefaultSystemSecret), p.cfg.PlatformNamespace)
	}
	read := func(name, key string) ([]byte, error) {
		s := &corev1.Secret{}
		if err := p.reader.Get(ctx, client.ObjectKey{Namespace: p.cfg.PlatformNamespace, Name: name}, s); err != nil {
			return nil, fmt.Errorf("reading Secret %s/%s: %w", p.cfg.PlatformNamespace, name, err)
		}
		if len(s.Data[key]) == 0 {
			return nil, fmt.Errorf("Secret %s/%s has no key %s", p.cfg.PlatformNamespace, name, key)
		}
		return s.Data[key], nil
	}
	seed, err := read(p.secret(p.cfg.OperatorSecret, DefaultOperatorSecret), "seed")
	if err != nil {
		return nil, err
	}
	sk, err := nkeys.FromSeed(seed)
	if err != nil || !isOperatorSeed(seed) {
		return nil, fmt.Errorf("Secret %s/%s: seed is not an operator signing key's seed (SO…)", p.cfg.PlatformNamespace, p.secret(p.cfg.OperatorSecret, DefaultOperatorSecret))
	}
	creds, err := read(p.secret(p.cfg.SystemSecret, DefaultSystemSecret), platformv1.NatsCredsKey)
	if err != nil {
		return nil, err
	}
	p.cap = &messaging.Capability{Backend: &messaging.Server{URL: p.cfg.URL, SystemCreds: creds}, SigningKey: sk, URL: p.cfg.URL}
	return p.cap, nil
}

func isOperatorSeed(seed []byte) bool {
	prefix, _, err := nkeys.DecodeSeed(seed)
	return err == nil && prefix == nkeys.PrefixByteOperator
}

func (p *provider) secret(name, def string) string {
	if name == "" {
		return def
	}
	return name
}

// ping is the backend watch's check of the server.
func (p *provider) ping(ctx context.Context) error {
	c, err := p.get(ctx)
	if err != nil {
		return err
	}
	return c.Backend.Ping(ctx)
}
