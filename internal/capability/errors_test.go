package capability_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plattr/plattr/internal/capability"
)

// pgError is how pgconn reports the server's SQLSTATE.
type pgError string

func (e pgError) Error() string    { return "FATAL (SQLSTATE " + string(e) + ")" }
func (e pgError) SQLState() string { return string(e) }

// retryable is how pgconn says a query was lost before it was sent.
type retryable struct{ safe bool }

func (r retryable) Error() string     { return "conn closed" }
func (r retryable) SafeToRetry() bool { return r.safe }

// An outage is a backend that could not be reached or answered 5xx; a
// refusal the owner must fix is not, even from a backend.
func TestIsOutage(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	gr := schema.GroupResource{Group: "dex.coreos.com", Resource: "oauth2clients"}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", capability.Unavailable(capability.BackendDatabase, fmt.Errorf("failed to connect: %w", refused)), true},
		{"timeout", capability.Unavailable(capability.BackendObjectStore, fmt.Errorf("list: %w", context.DeadlineExceeded)), true},
		{"connection reset", capability.Unavailable(capability.BackendObjectStore, syscall.ECONNRESET), true},
		{"lost before it was sent", capability.Unavailable(capability.BackendDatabase, retryable{safe: true}), true},
		{"lost after it was sent", capability.Unavailable(capability.BackendDatabase, retryable{safe: false}), false},
		{"5xx from an API server", capability.Unavailable(capability.BackendIdentity, apierrors.NewInternalError(errors.New("boom"))), true},
		{"403 from an API server", capability.Unavailable(capability.BackendIdentity, apierrors.NewForbidden(gr, "x", errors.New("no"))), false},
		{"PostgreSQL shutting down (57P01)", capability.Unavailable(capability.BackendDatabase, pgError("57P01")), true},
		{"PostgreSQL out of connections (53300)", capability.Unavailable(capability.BackendDatabase, pgError("53300")), true},
		{"permission denied (42501)", capability.Unavailable(capability.BackendDatabase, pgError("42501")), false},
		{"a refused statement", capability.Unavailable(capability.BackendDatabase, errors.New("permission denied for schema x")), false},
		{"not marked as a backend's", refused, false},
		{"terminal", capability.Terminal(capability.Unavailable(capability.BackendDatabase, refused)), true},
	} {
		if got := capability.IsOutage(tt.err); got != tt.want {
			t.Errorf("%s: IsOutage = %v, want %v", tt.name, got, tt.want)
		}
	}
}
