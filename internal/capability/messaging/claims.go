package messaging

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/nats-io/jwt/v2"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// UserClaims are the claims of a user of account signed for userPublicKey
// (without iat, jti and exp, which signing sets).
func UserClaims(accountPublicKey, userPublicKey, name string, spec platformv1.NatsUserSpec, g platformv1.NatsGranted) *jwt.UserClaims {
	c := jwt.NewUserClaims(userPublicKey)
	c.Name = name
	c.IssuerAccount = ""
	c.Issuer = accountPublicKey
	c.Pub.Allow = slices.Clone(g.Publish)
	c.Pub.Deny = sorted(spec.Permissions.Pub.Deny)
	c.Sub.Allow = slices.Clone(g.Subscribe)
	c.Sub.Deny = sorted(spec.Permissions.Sub.Deny)
	if r := spec.Permissions.Resp; r != nil {
		c.Resp = &jwt.ResponsePermission{MaxMsgs: int(max(r.Max, 1))}
		if r.TTL != nil {
			c.Resp.Expires = r.TTL.Duration
		}
	}
	c.Limits.Subs = orUnlimited(spec.Limits.Subs)
	c.Limits.Payload = orUnlimited(spec.Limits.Payload)
	c.Limits.Data = orUnlimited(spec.Limits.Data)
	if len(spec.AllowedConnectionTypes) > 0 {
		c.AllowedConnectionTypes = jwt.StringList(sorted(spec.AllowedConnectionTypes))
	}
	return c
}

func orUnlimited(n int64) int64 {
	if n <= 0 {
		return jwt.NoLimit
	}
	return n
}

func sorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// UserHash is the hash of a user's claims without iat, jti, exp (and the
// type and version signing adds), taken
// after a JSON round trip so claims built here and claims decoded from a
// JWT hash the same when they say the same.
func UserHash(c *jwt.UserClaims) string {
	cp := *c
	cp.IssuedAt, cp.ID, cp.Expires = 0, "", 0
	// Signing sets the type and the library's version.
	cp.Type, cp.Version = "", 0
	return roundTripHash(&cp, &jwt.UserClaims{})
}

// AccountHash is the hash of an account's claims without iat and jti.
func AccountHash(c *jwt.AccountClaims) string {
	cp := *c
	cp.IssuedAt, cp.ID, cp.Expires = 0, "", 0
	cp.Type, cp.Version = "", 0
	return roundTripHash(&cp, &jwt.AccountClaims{})
}

func roundTripHash(v, into any) string {
	b, err := json.Marshal(v)
	if err == nil {
		if err = json.Unmarshal(b, into); err == nil {
			b, err = json.Marshal(into)
		}
	}
	if err != nil {
		panic(err) // the claims types always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// AccountClaims are the claims of a NatsAccount: its name, the operator's
// signing key as issuer, and the revoked user keys (public key → unix time;
// every JWT of that key issued until then is refused).
func AccountClaims(name, accountPublicKey, signingPublicKey string, revocations map[string]int64) *jwt.AccountClaims {
	c := jwt.NewAccountClaims(accountPublicKey)
	c.Name = name
	c.Issuer = signingPublicKey
	for k, t := range revocations {
		c.RevokeAt(k, time.Unix(t, 0))
	}
	return c
}
