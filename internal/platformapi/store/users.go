package store

import (
	"context"
	"time"
)

// User is a person known to the platform, by email.
type User struct {
	ID          int64      `json:"id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	SiteAdmin   bool       `json:"siteAdmin"`
	CreatedAt   time.Time  `json:"createdAt"`
	LastLoginAt *time.Time `json:"lastLoginAt,omitempty"`
}

const userColumns = "u.id, u.email, u.name, u.site_admin, u.created_at, u.last_login_at"

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.SiteAdmin, &u.CreatedAt, &u.LastLoginAt)
	return u, notFound(err)
}

// EnsureUser returns the user with this email, creating it if needed (a
// role may be granted before the person first signs in). siteAdmin only
// ever raises the flag: configuration names the first site admins.
func (s *Store) EnsureUser(ctx context.Context, email string, siteAdmin bool) (User, error) {
	return scanUser(s.Pool.QueryRow(ctx, `
		INSERT INTO users AS u (email, site_admin) VALUES ($1, $2)
		ON CONFLICT (email) DO UPDATE SET site_admin = u.site_admin OR EXCLUDED.site_admin
		RETURNING `+userColumns, email, siteAdmin))
}

// RecordLogin notes a sign-in and the name the identity provider gave.
func (s *Store) RecordLogin(ctx context.Context, id int64, name string) error {
	_, err := s.Pool.Exec(ctx, "UPDATE users SET last_login_at = now(), name = CASE WHEN $2 = '' THEN name ELSE $2 END WHERE id = $1", id, name)
	return err
}

// UserByEmail finds a user.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return scanUser(s.Pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users u WHERE u.email = $1", email))
}
