package kit

import (
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/capability/compose"
	"github.com/plattr/plattr/internal/config"
)

// Deps are what the operator gives every controller on the kit, built once
// at setup.
type Deps struct {
	client.Client
	// APIReader reads past the cache: Secrets an owner references are not
	// cached, and a cache miss must be confirmed before credentials rotate.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Caps are the operator's capabilities, over one connection to each
	// backend; the controllers reach the backends only through them.
	Caps   compose.Set
	Config config.Operator
	// Clock tells the time; nil is the real clock.
	Clock clock.PassiveClock
}

// New is the kit of the controller name, for the kind newObj makes.
func New[T Object](name string, d Deps, newObj func() T) *Kit[T] {
	return &Kit[T]{Name: name, Client: d.Client, Recorder: d.Recorder, Clock: d.Clock, New: newObj}
}
