package objectstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// NewSecretKey returns a random secret access key.
func NewSecretKey() (string, error) {
	b := make([]byte, 30)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// EnsureUser makes the store's user access exist with exactly secret. It
// writes nothing when that is already so; a user found with another secret
// gets the given one, because the app's Secret is the source of truth.
func (s *Store) EnsureUser(ctx context.Context, access, secret string) error {
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
		err = s.admin.setSecret(ctx, access, secret)
	}
	return s.wrap(err)
}

// RemoveUser deletes the user; a user already gone is fine.
func (s *Store) RemoveUser(ctx context.Context, access string) error {
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
	return s.wrap(s.admin.deleteUser(ctx, access))
}
