package store

import (
	"context"
	"time"
)

// Token is an API token as listed: never the token itself.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Hint       string     `json:"hint"` // the first characters, to tell tokens apart
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
}

// CreateToken stores a token's hash.
func (s *Store) CreateToken(ctx context.Context, userID int64, name string, hash []byte, hint string, expiresAt *time.Time) (Token, error) {
	t := Token{Name: name, Hint: hint, ExpiresAt: expiresAt}
	err := s.Pool.QueryRow(ctx, `INSERT INTO api_tokens (user_id, name, hash, hint, expires_at) VALUES ($1, $2, $3, $4, $5)
		RETURNING id, created_at`, userID, name, hash, hint, expiresAt).Scan(&t.ID, &t.CreatedAt)
	return t, err
}

// Tokens lists a user's tokens, newest first.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, name, hint, created_at, expires_at, last_used_at, revoked_at
		FROM api_tokens WHERE user_id = $1 ORDER BY id DESC`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		var t Token
		if err := rows.Scan(&t.ID, &t.Name, &t.Hint, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes one of the user's tokens.
func (s *Store) RevokeToken(ctx context.Context, userID, id int64) error {
	tag, err := s.Pool.Exec(ctx, "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND user_id = $2", id, userID)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	return err
}

// UserByToken finds the user a valid (unrevoked, unexpired) token belongs
// to and notes its use. The last-use time is written at most once a
// minute, so a busy script does not turn every read into a write.
func (s *Store) UserByToken(ctx context.Context, hash []byte) (User, error) {
	var tokenID int64
	var lastUsed *time.Time
	row := s.Pool.QueryRow(ctx, `SELECT `+userColumns+`, t.id, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())`, hash)
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.SiteAdmin, &u.CreatedAt, &u.LastLoginAt, &tokenID, &lastUsed)
	if err != nil {
		return u, notFound(err)
	}
	if lastUsed == nil || time.Since(*lastUsed) > time.Minute {
		_, err = s.Pool.Exec(ctx, "UPDATE api_tokens SET last_used_at = now() WHERE id = $1", tokenID)
	}
	return u, err
}

// CreateSession stores a browser session's hash.
func (s *Store) CreateSession(ctx context.Context, userID int64, hash []byte, expiresAt time.Time) error {
	_, err := s.Pool.Exec(ctx, "INSERT INTO sessions (hash, user_id, expires_at) VALUES ($1, $2, $3)", hash, userID, expiresAt)
	return err
}

// UserBySession finds the user of an unexpired session.
func (s *Store) UserBySession(ctx context.Context, hash []byte) (User, error) {
	return scanUser(s.Pool.QueryRow(ctx, `SELECT `+userColumns+` FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.hash = $1 AND s.expires_at > now()`, hash))
}

// DeleteSession signs a session out.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	_, err := s.Pool.Exec(ctx, "DELETE FROM sessions WHERE hash = $1", hash)
	return err
}

// PruneAuth deletes expired sessions and sign-ins left in flight by an
// older release (login_states; sign-ins now wait in a sealed cookie), on
// a timer rather than on a request an anonymous caller could repeat.
func (s *Store) PruneAuth(ctx context.Context, loginMaxAge time.Duration) error {
	if _, err := s.Pool.Exec(ctx, "DELETE FROM sessions WHERE expires_at < now()"); err != nil {
		return err
	}
	_, err := s.Pool.Exec(ctx, "DELETE FROM login_states WHERE created_at < now() - make_interval(secs => $1)", loginMaxAge.Seconds())
	return err
}
