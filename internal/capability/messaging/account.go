package messaging

import (
	"context"
	"fmt"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Capability pushes accounts through a Backend, signed with the operator's
// signing key.
type Capability struct {
	Backend Backend
	// SigningKey is the operator signing key (an O… seed's pair).
	SigningKey nkeys.KeyPair
	// URL is what workloads connect to (NATS_URL).
	URL string
}

// Configured reports whether the operator has a NATS server.
func (c *Capability) Configured() bool { return c != nil && c.Backend != nil && c.SigningKey != nil }

// EnsureAccount makes the server hold the account's claims: it looks up
// what the resolver has and pushes only when the decoded claims differ
// (never comparing JWT strings: iat changes). It returns the hash of the
// claims the server holds and whether it pushed.
func (c *Capability) EnsureAccount(ctx context.Context, name, accountPublicKey string, revocations map[string]int64) (string, bool, error) {
	pub, err := c.SigningKey.PublicKey()
	if err != nil {
		return "", false, err
	}
	want := AccountClaims(name, accountPublicKey, pub, revocations)
	hash := AccountHash(want)
	held, err := c.Backend.LookupAccount(ctx, accountPublicKey)
	if err != nil {
		return "", false, err
	}
	if held != "" {
		if got, derr := jwt.DecodeAccountClaims(held); derr == nil && AccountHash(got) == hash {
			return hash, false, nil
		}
	}
	token, err := want.Encode(c.SigningKey)
	if err != nil {
		return "", false, fmt.Errorf("signing the account JWT: %w", err)
	}
	if err := c.Backend.PushAccount(ctx, accountPublicKey, token); err != nil {
		return "", false, err
	}
	return hash, true, nil
}
