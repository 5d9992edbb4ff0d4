package awssecrets

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plattr/plattr/internal/awssecrets/awsfake"
)

func fakeEnv(t *testing.T, sm *awsfake.Server) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-key")
	t.Setenv("AWS_ENDPOINT_URL", sm.URL)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
}

// TestSourceCachesRefreshesAndSurvivesOutages walks the Source through its
// transitions against the fake: cached within the interval, re-read after
// it, re-read at once when invalidated, the last value kept while Secrets
// Manager is down, and a secret without a password refused without quoting
// it.
func TestSourceCachesRefreshesAndSurvivesOutages(t *testing.T) {
	ctx := context.Background()
	sm := awsfake.Start("eu-central-1", "AKIDFAKE")
	defer sm.Close()
	fakeEnv(t, sm)
	arn := sm.Create("plattr/db-admin", `{"username":"admin","password":"one","port":5433,"dbname":"platform"}`)
	if got := RegionOf(arn); got != "eu-central-1" {
		t.Fatalf("RegionOf = %q", got)
	}
	src, err := New(ctx, arn, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	src.now = func() time.Time { return now }

	get := func(want string) {
		t.Helper()
		c, err := src.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.Password != want || c.Username != "admin" || c.Port != 5433 || c.DBName != "platform" {
			t.Fatalf("got %+v, want password %q", c, want)
		}
	}
	get("one")
	sm.Put(arn, `{"username":"admin","password":"two","port":5433,"dbname":"platform"}`)
	now = now.Add(30 * time.Second)
	get("one") // cached within the interval
	if n := sm.Calls("GetSecretValue"); n != 1 {
		t.Fatalf("%d reads within the interval; want 1", n)
	}
	now = now.Add(31 * time.Second)
	get("two") // re-read after it
	if src.Version() != "v2" {
		t.Fatalf("version %q", src.Version())
	}

	sm.Put(arn, `{"username":"admin","password":"three","port":5433,"dbname":"platform"}`)
	src.Invalidate()
	get("three") // the database refused the cached one

	sm.Close() // Secrets Manager down: the last value serves
	src.Invalidate()
	get("three")
}

func TestSourceRefusesBadSecrets(t *testing.T) {
	ctx := context.Background()
	sm := awsfake.Start("us-east-1", "AKIDFAKE")
	defer sm.Close()
	fakeEnv(t, sm)
	for _, value := range []string{`{"username":"admin"}`, `not json hunter2`} {
		arn := sm.Create("bad-"+value[:3], value)
		src, err := New(ctx, arn, "", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Get(ctx)
		if err == nil || !strings.Contains(err.Error(), "DB_SECRET_ARN") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("secret %q: err = %v; want one naming DB_SECRET_ARN and not quoting the value", value, err)
		}
	}
	// Signed for the wrong account's keys: the service's refusal is named.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDOTHER")
	src, err := New(ctx, sm.Create("x", `{"username":"a","password":"b"}`), "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Get(ctx); err == nil || !strings.Contains(err.Error(), "UnrecognizedClientException") || !strings.Contains(err.Error(), "IAM role") {
		t.Errorf("unknown key: err = %v", err)
	}
}
