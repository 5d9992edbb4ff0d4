package objectstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/plattr/plattr/internal/metrics"
)

// NewSecretKey returns a random secret access key.
func NewSecretKey() (string, error) {
	b := make([]byte, 30)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ErrUserConflict means a user of the app's name exists and owns buckets
// of another app.
var ErrUserConflict = errors.New("object store user belongs to another owner")

// EnsureUser makes the store's user access exist with exactly secret. It
// writes nothing when that is already so. A user found with another secret
// gets the given one — the app's Secret is the source of truth, and a
// missing Secret asks for rotation — but only if every bucket it owns is
// tagged for owner: a user holding another app's buckets is never taken
// over.
func (s *Store) EnsureUser(ctx context.Context, access, secret, owner string) error {
	defer metrics.TimeCall(metrics.BackendObjectStore, "ensure_user")()
	if s.admin == nil {
		return fmt.Errorf("the object store has no per-app users")
	}
	users, err := s.admin.users(ctx)
	if err != nil {
		return s.wrap(err)
	}
	acc, ok := users[access]
	switch {
	case !ok:
		err = s.admin.createUser(ctx, access, secret)
	case acc.Secret != secret:
		if err := s.checkUserOwner(ctx, access, owner); err != nil {
			return err
		}
		err = s.admin.setSecret(ctx, access, secret)
	}
	return s.wrap(err)
}

// RemoveUser deletes the user, unless it owns buckets of another owner; a
// user already gone is fine.
func (s *Store) RemoveUser(ctx context.Context, access, owner string) error {
	defer metrics.TimeCall(metrics.BackendObjectStore, "remove_user")()
	if s.admin == nil {
		return nil
	}
	users, err := s.admin.users(ctx)
	if err != nil {
		return s.wrap(err)
	}
	if _, ok := users[access]; !ok {
		return nil
	}
	if err := s.checkUserOwner(ctx, access, owner); err != nil {
		return err
	}
	return s.wrap(s.admin.deleteUser(ctx, access))
}

// checkUserOwner fails with ErrUserConflict if access owns a bucket
// recorded for someone other than owner. A bucket it owns without a record
// is one an earlier version made (its tag says whose) or one this app
// created and could not record yet (untagged).
func (s *Store) checkUserOwner(ctx context.Context, access, owner string) error {
	owners, err := s.admin.bucketOwners(ctx)
	if err != nil {
		return s.wrap(err)
	}
	for bucket, by := range owners {
		if by != access {
			continue
		}
		recorded, ok, err := s.recordedOwner(ctx, bucket)
		if err != nil {
			return err
		}
		if !ok {
			if recorded, err = s.ownerOf(ctx, bucket); err != nil {
				return err
			}
			ok = recorded != "" && recorded != legacyOwner(owner)
		}
		if ok && recorded != owner {
			return fmt.Errorf("%w: user %s owns bucket %s of %s; it is not this app's to change or delete", ErrUserConflict, access, bucket, recorded)
		}
	}
	return nil
}

// UserSecrets lists every user's secret key, by access key, in one call:
// the drift sweep compares them with the apps' Secrets.
func (s *Store) UserSecrets(ctx context.Context) (map[string]string, error) {
	defer metrics.TimeCall(metrics.BackendObjectStore, "user_secrets")()
	if s.admin == nil {
		return nil, nil
	}
	users, err := s.admin.users(ctx)
	if err != nil {
		return nil, s.wrap(err)
	}
	out := make(map[string]string, len(users))
	for access, acc := range users {
		out[access] = acc.Secret
	}
	return out, nil
}
