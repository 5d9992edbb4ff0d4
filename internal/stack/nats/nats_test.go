package nats_test

import (
	"context"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/plattr/plattr/internal/testenv"
)

func natsConnectAnonymous(url string) (*natsgo.Conn, error) {
	return natsgo.Connect(url, natsgo.MaxReconnects(0))
}

// The server runs in operator mode: the system user connects and the
// server answers its requests, a user of no known account is refused, and
// a restart keeps the keys.
func TestServerInOperatorMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := testenv.StartNATS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	nc, err := s.SystemConn()
	if err != nil {
		t.Fatalf("system user: %v", err)
	}
	if _, err := nc.Request("$SYS.REQ.SERVER.PING", nil, 5*time.Second); err != nil {
		t.Fatalf("system request: %v", err)
	}
	nc.Close()
	if nc, err := natsConnectAnonymous(s.URL()); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected to an operator-mode server")
	}
	op := s.Keys.OperatorJWT
	if err := s.Server.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if s.Keys.OperatorJWT != op {
		t.Fatal("the operator changed across a restart")
	}
}
