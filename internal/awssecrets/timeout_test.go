package awssecrets

import (
	"context"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/testenv/stalled"
)

// TestStalledSecretsManagerTimesOut: a Secrets Manager endpoint that
// accepts the call and never answers fails Get once Timeout has passed —
// the caller's context has no deadline — rather than hanging every new
// admin connection, which waits for Get.
func TestStalledSecretsManagerTimesOut(t *testing.T) {
	addr := stalled.Listen(t, nil)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-key")
	t.Setenv("AWS_ENDPOINT_URL", "http://"+addr)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	src, err := New(context.Background(), "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	src.Timeout = 500 * time.Millisecond
	done := make(chan error, 1)
	go func() { _, err := src.Get(context.Background()); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Get on a stalled Secrets Manager returned no error")
		}
	case <-time.After(20 * time.Second): // far above the timeout: only a hang trips it
		t.Fatal("Get on a stalled Secrets Manager did not return within 20s: a stalled Secrets Manager hangs every new admin connection")
	}
}
