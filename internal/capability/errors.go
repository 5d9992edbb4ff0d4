package capability

import (
	"errors"
	"fmt"
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
