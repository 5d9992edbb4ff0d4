package capability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Backends a capability can find unavailable.
const (
	BackendDatabase    = "database"
	BackendObjectStore = "object store"
	BackendIdentity    = "identity provider"
)

// BackendError is a failure to reach a backend. The controller remembers
// the owner and retries it as soon as the backend answers again.
type BackendError struct {
	Backend string
	Err     error
}

func (e *BackendError) Error() string { return e.Err.Error() }
func (e *BackendError) Unwrap() error { return e.Err }

// Unavailable marks err as a failure to reach backend.
func Unavailable(backend string, err error) error {
	return &BackendError{Backend: backend, Err: err}
}

// UnavailableBackend returns the backend err could not reach, if any.
func UnavailableBackend(err error) (string, bool) {
	var be *BackendError
	if errors.As(err, &be) {
		return be.Backend, true
	}
	return "", false
}

// terminalError is a failure that retrying the same spec will not mend.
type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// Terminal marks err as one retrying will not mend (a rollout past its
// progress deadline): the owner is Failed at once.
func Terminal(err error) error { return &terminalError{err: err} }

// IsTerminal reports whether err was marked Terminal.
func IsTerminal(err error) bool {
	var te *terminalError
	return errors.As(err, &te)
}

// ErrSecretConflict: a Secret of the name a capability writes belongs to
// someone else; the capability's condition says so.
var ErrSecretConflict = errors.New("Secret is not managed by Plattr for this owner")

// ErrRotationPending: a credentials Secret was deleted while the reconcile
// that read it was running; the next reconcile issues new credentials.
var ErrRotationPending = errors.New("credentials Secret deleted during the reconcile")

func secretConflict(namespace, name string) error {
	return fmt.Errorf("%w: %s/%s", ErrSecretConflict, namespace, name)
}

// IsOutage reports whether err is a platform backend's unavailability —
// marked Unavailable and, underneath, a connection refused or reset, a
// timeout, a connection lost before the request was sent, PostgreSQL
// shutting down or out of connections, or an answer of 5xx — rather than
// something the owner must fix. An outage never counts
// as a failed attempt: the owner keeps its phase, and the backend watch
// brings it back when the backend answers again.
func IsOutage(err error) bool {
	if _, ok := UnavailableBackend(err); !ok {
		return false
	}
	var netErr net.Error
	var retry interface{ SafeToRetry() bool } // pgconn: lost before it was sent
	var status interface{ Status() metav1.Status }
	var sqlState interface{ SQLState() string } // PostgreSQL's answer
	switch {
	case errors.As(err, &sqlState):
		// Connection exceptions (08), insufficient resources (53: too many
		// connections) and operator intervention (57: the server shutting
		// down or starting) are the server's state, not the statement's.
		code := sqlState.SQLState()
		return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || strings.HasPrefix(code, "57")
	case errors.As(err, &status):
		return status.Status().Code >= 500
	case errors.As(err, &netErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &retry):
		return retry.SafeToRetry()
	}
	var code interface{ HTTPStatusCode() int }
	return errors.As(err, &code) && code.HTTPStatusCode() >= 500
}
