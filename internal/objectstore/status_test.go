package objectstore_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/objectstore"
)

// answering is a store that refuses every request with one HTTP status and
// an S3 error body, as a store behind an overloaded proxy (503), a crashed
// backend (500) or wrong keys (403) does. It stands in for the real store
// only to produce those answers, which versitygw gives on demand for none.
func answering(t *testing.T, status int, code string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>refused</Message></Error>`, code)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestServerErrorsAreOutages: a 5xx from the store — on the S3 API or
// versitygw's admin API — is the platform's outage, which never counts
// toward an app's failedAttempts; a 4xx is not. Before UnavailableError
// carried the status, minio's error hid it and a 503 counted as the app's
// own failure.
func TestServerErrorsAreOutages(t *testing.T) {
	for _, tt := range []struct {
		status int
		code   string
		outage bool
	}{
		{503, "SlowDown", true},
		{500, "InternalError", true},
		{403, "AccessDenied", false},
	} {
		endpoint := answering(t, tt.status, tt.code)
		st, err := objectstore.New(objectstore.Config{Endpoint: endpoint, AccessKey: "a", SecretKey: "b", AdminEndpoint: endpoint})
		if err != nil {
			t.Fatal(err)
		}
		calls := map[string]func(context.Context) error{
			"Ping": st.Ping,
			"EnsureBucket": func(ctx context.Context) error {
				_, err := st.EnsureBucket(ctx, objectstore.Bucket{Name: "plattr-status-test", Owner: "app"})
				return err
			},
			"EnsureUser (admin API)": func(ctx context.Context) error {
				return st.EnsureUser(ctx, "plattr-status-user", "secret-secret", "app")
			},
		}
		for name, call := range calls {
			err := call(context.Background())
			if err == nil {
				t.Fatalf("%s against a store answering %d: no error", name, tt.status)
			}
			if got := capability.IsOutage(capability.Unavailable(capability.BackendObjectStore, err)); got != tt.outage {
				t.Errorf("%s answered %d (%s): IsOutage = %v, want %v (err: %v)", name, tt.status, tt.code, got, tt.outage, err)
			}
		}
	}
}
