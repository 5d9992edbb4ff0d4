package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	natsgo "github.com/nats-io/nats.go"

	"github.com/plattr/plattr/internal/capability"
)

// Server is the `local` provider's Backend: a system-account user of the
// operator's NATS server, talking to its resolver.
type Server struct {
	URL string
	// SystemCreds is the system user's .creds file.
	SystemCreds []byte
	// Timeout bounds each request (default 5 s).
	Timeout time.Duration

	mu sync.Mutex
	nc *natsgo.Conn
}

func (s *Server) conn() (*natsgo.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil && !s.nc.IsClosed() {
		return s.nc, nil
	}
	userJWT, err := jwt.ParseDecoratedJWT(s.SystemCreds)
	if err != nil {
		return nil, fmt.Errorf("the system user's creds: %w", err)
	}
	kp, err := jwt.ParseDecoratedNKey(s.SystemCreds)
	if err != nil {
		return nil, fmt.Errorf("the system user's creds: %w", err)
	}
	nc, err := natsgo.Connect(s.URL, natsgo.Name("plattr-operator"),
		natsgo.UserJWT(func() (string, error) { return userJWT, nil }, kp.Sign),
		natsgo.Timeout(s.timeout()), natsgo.MaxReconnects(-1), natsgo.RetryOnFailedConnect(false))
	if err != nil {
		return nil, capability.Unavailable(BackendNATS, fmt.Errorf("connecting to %s: %w", s.URL, err))
	}
	s.nc = nc
	return nc, nil
}

func (s *Server) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 5 * time.Second
}

func (s *Server) request(ctx context.Context, subject string, data []byte) (*natsgo.Msg, error) {
	nc, err := s.conn()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		// No answer: the server (or its resolver) is away — an outage.
		return nil, capability.Unavailable(BackendNATS, fmt.Errorf("%s: %w", subject, errors.Join(err, context.DeadlineExceeded)))
	}
	return msg, nil
}

// claimUpdateReply is the resolver's answer to a claims update.
type claimUpdateReply struct {
	Data *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"data"`
	Error *struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"error"`
}

// PushAccount sends the account JWT to $SYS.REQ.ACCOUNT.<id>.CLAIMS.UPDATE
// and accepts only a reply with code 200.
func (s *Server) PushAccount(ctx context.Context, accountPublicKey, accountJWT string) error {
	msg, err := s.request(ctx, fmt.Sprintf("$SYS.REQ.ACCOUNT.%s.CLAIMS.UPDATE", accountPublicKey), []byte(accountJWT))
	if err != nil {
		return err
	}
	var r claimUpdateReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return &PushError{Message: fmt.Sprintf("unreadable reply %q", string(msg.Data))}
	}
	switch {
	case r.Error != nil:
		return &PushError{Code: r.Error.Code, Message: r.Error.Description}
	case r.Data == nil || r.Data.Code != 200:
		return &PushError{Message: fmt.Sprintf("reply without code 200: %s", msg.Data)}
	}
	return nil
}

// LookupAccount asks the resolver for the account's JWT; an empty reply is
// the resolver saying it has none.
func (s *Server) LookupAccount(ctx context.Context, accountPublicKey string) (string, error) {
	msg, err := s.request(ctx, fmt.Sprintf("$SYS.REQ.ACCOUNT.%s.CLAIMS.LOOKUP", accountPublicKey), nil)
	if err != nil {
		return "", err
	}
	return string(msg.Data), nil
}

// Ping asks the server for its identity as the system account.
func (s *Server) Ping(ctx context.Context) error {
	_, err := s.request(ctx, "$SYS.REQ.SERVER.PING", nil)
	return err
}

// Close closes the connection.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		s.nc.Close()
	}
}
