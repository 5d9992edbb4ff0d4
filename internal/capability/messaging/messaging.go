// Package messaging is the capability behind NatsAccount and NatsUser: the
// subject space a namespace may be granted, the claims of accounts and
// users (and their hashes, which never include iat, jti or exp, so a
// re-sign with unchanged permissions is recognised as no change), what a
// user's Secret needs (keep, re-sign the same key, or a new key), and the
// push of an account JWT to a server's resolver.
//
// The NATS server is reached only through Backend; the provider `local` is
// Server (a system-account user on the operator's own server). A `synadia`
// provider would be another Backend.
package messaging

import (
	"context"
	"errors"
	"fmt"
)

// BackendNATS names the NATS server in backend-outage errors and wakes.
const BackendNATS = "NATS server"

// Backend is what the capability needs of a NATS server's resolver.
type Backend interface {
	// PushAccount sends a signed account JWT; nil only when the server
	// answered code 200, else a *PushError with its message.
	PushAccount(ctx context.Context, accountPublicKey, accountJWT string) error
	// LookupAccount returns the account JWT the server holds ("" for none).
	LookupAccount(ctx context.Context, accountPublicKey string) (string, error)
	// Ping checks that the server answers the system account.
	Ping(ctx context.Context) error
}

// PushError is a server's refusal of an account JWT.
type PushError struct {
	Code    int
	Message string
}

func (e *PushError) Error() string {
	return fmt.Sprintf("the NATS server refused the account JWT (code %d): %s", e.Code, e.Message)
}

// IsRefused reports whether err is the server's refusal (not an outage).
func IsRefused(err error) bool {
	var pe *PushError
	return errors.As(err, &pe)
}

// NotAllowedError: a user asked for a namespace or subject outside its
// account's space. Its message names what and how to fix it.
type NotAllowedError struct{ Msg string }

func (e *NotAllowedError) Error() string { return e.Msg }

func notAllowed(format string, args ...any) error {
	return &NotAllowedError{Msg: fmt.Sprintf(format, args...)}
}

// IsNotAllowed reports whether err is a NotAllowedError.
func IsNotAllowed(err error) bool {
	var na *NotAllowedError
	return errors.As(err, &na)
}
