package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/plattr/plattr/internal/objectstore"
	"github.com/plattr/plattr/internal/testenv"
)

var server *testenv.ObjectStore

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	var err error
	server, err = testenv.StartObjectStore(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting versitygw:", err)
		os.Exit(1)
	}
	code := m.Run()
	server.Stop()
	os.Exit(code)
}

func newStore(t *testing.T) *objectstore.Store {
	t.Helper()
	st, err := objectstore.New(objectstore.Config{
		Endpoint: server.Endpoint(), AccessKey: server.AccessKey, SecretKey: server.SecretKey,
		AdminEndpoint: server.AdminEndpoint(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// clientAs is an S3 client with the given keys ("" for anonymous).
func clientAs(t *testing.T, access, secret string) *minio.Client {
	t.Helper()
	creds := credentials.NewStaticV4(access, secret, "")
	if access == "" {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	c, err := minio.New(strings.TrimPrefix(server.Endpoint(), "http://"), &minio.Options{Creds: creds, BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(ctx context.Context, c *minio.Client, bucket, key string) error {
	_, err := c.PutObject(ctx, bucket, key, bytes.NewReader([]byte("hello")), 5, minio.PutObjectOptions{})
	return err
}

func user(t *testing.T, st *objectstore.Store) (string, string) {
	t.Helper()
	access := "app-" + testenv.RandomString(8)
	secret, err := objectstore.NewSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureUser(context.Background(), access, secret, ""); err != nil {
		t.Fatal(err)
	}
	return access, secret
}

func TestPublicAndPrivateBucketsWithPerAppKeys(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	accessA, secretA := user(t, st)
	accessB, secretB := user(t, st)
	suffix := testenv.RandomString(6)
	public := objectstore.Bucket{Name: "pub-" + suffix, Owner: "ns/a", User: accessA, Public: true, Origins: []string{"https://a.example.com"}}
	private := objectstore.Bucket{Name: "priv-" + suffix, Owner: "ns/a", User: accessA, Origins: []string{"https://a.example.com"}}
	other := objectstore.Bucket{Name: "other-" + suffix, Owner: "ns/b", User: accessB}
	for _, b := range []objectstore.Bucket{public, private, other} {
		if changed, err := st.EnsureBucket(ctx, b); err != nil || !changed {
			t.Fatalf("EnsureBucket(%s) = %v, %v; want created", b.Name, changed, err)
		}
	}
	// A second pass finds everything in place and writes nothing.
	for _, b := range []objectstore.Bucket{public, private, other} {
		if changed, err := st.EnsureBucket(ctx, b); err != nil || changed {
			t.Fatalf("second EnsureBucket(%s) = %v, %v; want no change", b.Name, changed, err)
		}
	}

	appA := clientAs(t, accessA, secretA)
	for _, b := range []string{public.Name, private.Name} {
		if err := put(ctx, appA, b, "f.txt"); err != nil {
			t.Fatalf("app A writing its own bucket %s: %v", b, err)
		}
	}
	if err := put(ctx, appA, other.Name, "f.txt"); err == nil {
		t.Fatalf("app A could write app B's bucket %s", other.Name)
	}
	if err := put(ctx, clientAs(t, accessB, secretB), other.Name, "f.txt"); err != nil {
		t.Fatalf("app B writing its own bucket: %v", err)
	}

	get := func(bucket string) int {
		resp, err := http.Get(server.Endpoint() + "/" + bucket + "/f.txt")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if code := get(public.Name); code != http.StatusOK {
		t.Fatalf("anonymous GET on the public bucket: HTTP %d, want 200", code)
	}
	if code := get(private.Name); code != http.StatusForbidden {
		t.Fatalf("anonymous GET on the private bucket: HTTP %d, want 403", code)
	}

	// Turning the bucket private removes anonymous access; the owner keeps its.
	public.Public = false
	if changed, err := st.EnsureBucket(ctx, public); err != nil || !changed {
		t.Fatalf("making %s private = %v, %v", public.Name, changed, err)
	}
	if code := get(public.Name); code != http.StatusForbidden {
		t.Fatalf("anonymous GET after turning private: HTTP %d, want 403", code)
	}
	if err := put(ctx, appA, public.Name, "g.txt"); err != nil {
		t.Fatalf("owner writing after turning private: %v", err)
	}

	// CORS: exactly the app's origins.
	cfg, err := clientAs(t, server.AccessKey, server.SecretKey).GetBucketCors(ctx, private.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.CORSRules[0].AllowedOrigin; len(got) != 1 || got[0] != "https://a.example.com" {
		t.Fatalf("CORS origins = %v", got)
	}

	// Another owner's bucket is never adopted.
	_, err = st.EnsureBucket(ctx, objectstore.Bucket{Name: other.Name, Owner: "ns/a", User: accessA})
	if !errors.Is(err, objectstore.ErrConflict) {
		t.Fatalf("EnsureBucket on another app's bucket: %v, want ErrConflict", err)
	}
}

func TestRemoveBucketEmptiesEveryPage(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	access, secret := user(t, st)
	b := objectstore.Bucket{Name: "many-" + testenv.RandomString(6), Owner: "ns/many", User: access}
	if _, err := st.EnsureBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	c := clientAs(t, access, secret)
	const n = 1105 // more than one 1,000-key page
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			errs <- put(ctx, c, b.Name, fmt.Sprintf("dir%d/obj-%04d", i%3, i))
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	removed, err := st.RemoveBucket(ctx, b.Name)
	if err != nil {
		t.Fatal(err)
	}
	// The posix backend may list a directory entry beside the objects.
	if removed < n {
		t.Fatalf("removed %d entries, want at least %d", removed, n)
	}
	if ok, err := c.BucketExists(ctx, b.Name); err != nil || ok {
		t.Fatalf("bucket still exists after RemoveBucket (%v)", err)
	}
	owned, err := st.Owned(ctx, "many-", "ns/many")
	if err != nil || len(owned) != 0 {
		t.Fatalf("Owned after removal = %v, %v", owned, err)
	}
}

func TestUsersKeepTheirSecretUntilAsked(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	access, secret := user(t, st)
	b := objectstore.Bucket{Name: "keys-" + testenv.RandomString(6), Owner: "ns/keys", User: access}
	if _, err := st.EnsureBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureUser(ctx, access, secret, "ns/keys"); err != nil {
		t.Fatal(err)
	}
	if err := put(ctx, clientAs(t, access, secret), b.Name, "x"); err != nil {
		t.Fatalf("the original secret stopped working: %v", err)
	}
	rotated, _ := objectstore.NewSecretKey()
	if err := st.EnsureUser(ctx, access, rotated, "ns/keys"); err != nil {
		t.Fatal(err)
	}
	if err := put(ctx, clientAs(t, access, rotated), b.Name, "y"); err != nil {
		t.Fatalf("the rotated secret does not work: %v", err)
	}
	if err := put(ctx, clientAs(t, access, secret), b.Name, "z"); err == nil {
		t.Fatal("the old secret still works after rotation")
	}
	if err := st.RemoveUser(ctx, access, "ns/keys"); err != nil {
		t.Fatal(err)
	}
	if err := put(ctx, clientAs(t, access, rotated), b.Name, "w"); err == nil {
		t.Fatal("a removed user can still write")
	}
}

// Regression: a bucket created for an app whose tag (now: record) call then
// failed (or whose operator stopped between the calls) was BucketConflict
// forever.
func TestUntaggedBucketOfTheAppsOwnUserIsAdopted(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	access, _ := user(t, st)
	b := objectstore.Bucket{Name: "half-" + testenv.RandomString(6), Owner: "ns/half", User: access}
	if _, err := st.EnsureBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	admin := clientAs(t, server.AccessKey, server.SecretKey)
	if err := admin.RemoveBucketTagging(ctx, b.Name); err != nil {
		t.Fatal(err)
	}
	if err := admin.RemoveObject(ctx, objectstore.OwnersBucket, b.Name, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	changed, err := st.EnsureBucket(ctx, b)
	if err != nil || !changed {
		t.Fatalf("EnsureBucket of an untagged bucket owned by the app's user = %v, %v; want adopted", changed, err)
	}
	if owned, err := st.Owned(ctx, "half-", "ns/half"); err != nil || len(owned) != 1 {
		t.Fatalf("after adoption Owned = %v, %v", owned, err)
	}

	// Untagged and owned by the platform account: not the app's, never adopted.
	foreign := objectstore.Bucket{Name: "stray-" + testenv.RandomString(6), Owner: "ns/half", User: access}
	if err := admin.MakeBucket(ctx, foreign.Name, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureBucket(ctx, foreign); !errors.Is(err, objectstore.ErrConflict) {
		t.Fatalf("EnsureBucket of an untagged bucket of another owner = %v, want ErrConflict", err)
	}
}

// Regression: an existing user was given a new secret without checking
// whose it was.
func TestAUserHoldingAnotherAppsBucketIsNotTakenOver(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	access, secret := user(t, st)
	b := objectstore.Bucket{Name: "theirs-" + testenv.RandomString(6), Owner: "ns/a", User: access}
	if _, err := st.EnsureBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	other, _ := objectstore.NewSecretKey()
	if err := st.EnsureUser(ctx, access, other, "ns/b"); !errors.Is(err, objectstore.ErrUserConflict) {
		t.Fatalf("EnsureUser for another owner = %v, want ErrUserConflict", err)
	}
	if err := st.RemoveUser(ctx, access, "ns/b"); !errors.Is(err, objectstore.ErrUserConflict) {
		t.Fatalf("RemoveUser for another owner = %v, want ErrUserConflict", err)
	}
	if err := put(ctx, clientAs(t, access, secret), b.Name, "still-mine"); err != nil {
		t.Fatalf("the owner's secret stopped working: %v", err)
	}
}

func TestUnavailableStoreIsNamed(t *testing.T) {
	st, err := objectstore.New(objectstore.Config{Endpoint: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Ping(context.Background())
	var ue *objectstore.UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "object store at http://127.0.0.1:1") {
		t.Fatalf("Ping on a closed port = %v", err)
	}
}
