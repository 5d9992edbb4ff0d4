package messaging

import (
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Action is what a user's Secret needs.
type Action string

// Actions, from cheapest: keep writes nothing; re-sign keeps the key (the
// user's public key does not change); a new key revokes the old one first.
const (
	Keep   Action = "Keep"
	Resign Action = "Resign"
	NewKey Action = "NewKey"
)

// Current is what a user's Secret holds now.
type Current struct {
	// Creds is the .creds file (nil: no Secret, or none in it).
	Creds []byte
	// Rotation is the spec.rotation the key was made for.
	Rotation string
}

// Plan is what Decide found.
type Plan struct {
	Action Action
	// Key is the user's key to sign with (nil for NewKey: make one).
	Key nkeys.KeyPair
	// Old is the public key a NewKey replaces and revokes ("" for none).
	Old string
	// Claims are the decoded claims of the JWT in the Secret (nil: none).
	Claims *jwt.UserClaims
	// Why, for Events: "permissions changed", "rotation" …
	Why string
}

// Decide compares the Secret's JWT with what is wanted: the claims that
// want(publicKey) builds, expiresIn, renewBefore and spec.rotation. Claims
// are compared decoded and hashed without iat, jti and exp, never as JWT
// strings (iat changes on every signing).
func Decide(cur Current, rotation, accountPublicKey string, want func(userPublicKey string) *jwt.UserClaims, expiresIn, renewBefore time.Duration, now time.Time) Plan {
	if len(cur.Creds) == 0 {
		return Plan{Action: NewKey, Why: "no credentials yet"}
	}
	kp, err := jwt.ParseDecoratedNKey(cur.Creds)
	if err != nil {
		return Plan{Action: NewKey, Why: fmt.Sprintf("the Secret's key does not parse (%v)", err)}
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return Plan{Action: NewKey, Why: "the Secret's key is not a user key"}
	}
	if cur.Rotation != rotation {
		return Plan{Action: NewKey, Old: pub, Why: fmt.Sprintf("spec.rotation changed from %q to %q", cur.Rotation, rotation)}
	}
	plan := Plan{Action: Resign, Key: kp}
	token, err := jwt.ParseDecoratedJWT(cur.Creds)
	if err != nil {
		plan.Why = "the Secret's JWT does not parse"
		return plan
	}
	claims, err := jwt.DecodeUserClaims(token)
	if err != nil {
		plan.Why = fmt.Sprintf("the Secret's JWT does not decode (%v)", err)
		return plan
	}
	plan.Claims = claims
	switch exp := time.Unix(claims.Expires, 0); {
	case claims.Subject != pub:
		plan.Why = "the Secret's JWT is for another key"
	case claims.Issuer != accountPublicKey:
		plan.Why = "the account's key changed"
	case UserHash(claims) != UserHash(want(pub)):
		plan.Why = "the permissions or limits changed"
	case claims.Expires == 0 || exp.Sub(time.Unix(claims.IssuedAt, 0)) != expiresIn:
		plan.Why = "spec.expiresIn changed"
	case !now.Before(exp.Add(-renewBefore)):
		plan.Why = fmt.Sprintf("it expires at %s, within renewBefore %s", exp.UTC().Format(time.RFC3339), renewBefore)
	default:
		return Plan{Action: Keep, Key: kp, Claims: claims}
	}
	return plan
}

// Sign signs claims for the user with the account's key, valid for
// expiresIn from now, and returns the .creds file.
func Sign(account nkeys.KeyPair, user nkeys.KeyPair, claims *jwt.UserClaims, expiresIn time.Duration, now time.Time) ([]byte, *jwt.UserClaims, error) {
	c := *claims
	// jwt sets iat to the wall clock; exp follows it.
	c.Expires = now.Add(expiresIn).Unix()
	token, err := c.Encode(account)
	if err != nil {
		return nil, nil, err
	}
	decoded, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return nil, nil, err
	}
	// exp - iat is what Decide compares with expiresIn.
	if decoded.Expires-decoded.IssuedAt != int64(expiresIn/time.Second) {
		c.Expires = decoded.IssuedAt + int64(expiresIn/time.Second)
		if token, err = c.Encode(account); err != nil {
			return nil, nil, err
		}
		if decoded, err = jwt.DecodeUserClaims(token); err != nil {
			return nil, nil, err
		}
	}
	seed, err := user.Seed()
	if err != nil {
		return nil, nil, err
	}
	creds, err := jwt.FormatUserConfig(token, seed)
	return creds, decoded, err
}

// NewUserKey makes a user's key, once.
func NewUserKey() (nkeys.KeyPair, error) { return nkeys.CreateUser() }

// Lifetime is a NatsUser's expiresIn and renewBefore, defaulted as the
// CRD does when the API server did not.
func Lifetime(spec platformv1.NatsUserSpec) (expiresIn, renewBefore time.Duration) {
	if spec.ExpiresIn != nil {
		expiresIn = spec.ExpiresIn.Duration
	}
	if spec.RenewBefore != nil {
		renewBefore = spec.RenewBefore.Duration
	}
	if expiresIn <= 0 {
		expiresIn = 2160 * time.Hour
	}
	if renewBefore <= 0 || renewBefore >= expiresIn {
		renewBefore = min(360*time.Hour, expiresIn/6)
	}
	return expiresIn, renewBefore
}
