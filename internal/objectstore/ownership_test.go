package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/tags"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
	"github.com/plattr/plattr/internal/objectstore"
	"github.com/plattr/plattr/internal/testenv"
)

// Issue 17, defects 6 and 7: a bucket's owner was read from its tag, which
// the app's own key may rewrite, and said only namespace/name.

// (c) The app rewrites its bucket's owner tag with its own key, to another
// app's name: the other app must not get the bucket, and the owner keeps it.
func TestABucketTagRewrittenWithTheAppsKeyChangesNoOwnership(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	accessA, secretA := user(t, st)
	accessB, secretB := user(t, st)
	name := "tagged-" + testenv.RandomString(6)
	mine := objectstore.Bucket{Name: name, Owner: "team-a/app/uid-a", User: accessA}
	if _, err := st.EnsureBucket(ctx, mine); err != nil {
		t.Fatal(err)
	}
	appA := clientAs(t, accessA, secretA)
	if err := put(ctx, appA, name, "a-data.txt"); err != nil {
		t.Fatal(err)
	}
	forged, _ := tags.NewTags(map[string]string{objectstore.OwnerTag: "team-b/app/uid-b"}, false)
	if err := appA.SetBucketTagging(ctx, name, forged); err != nil {
		t.Fatalf("the app's key could not tag its bucket (the test assumes it can): %v", err)
	}
	// The forged owner asks for a bucket of that name.
	_, err := st.EnsureBucket(ctx, objectstore.Bucket{Name: name, Owner: "team-b/app/uid-b", User: accessB})
	if !errors.Is(err, objectstore.ErrConflict) {
		t.Errorf("EnsureBucket for the owner the tag was forged to: err = %v, want ErrConflict", err)
	}
	if owned, _ := st.Owned(ctx, "tagged-", "team-b/app/uid-b"); slices.Contains(owned, name) {
		t.Errorf("Owned lists the bucket for the forged owner: %v", owned)
	}
	if _, err := clientAs(t, accessB, secretB).StatObject(ctx, name, "a-data.txt", minio.StatObjectOptions{}); err == nil {
		t.Error("the forged owner's key reads the bucket")
	}
	// The real owner keeps it.
	if _, err := st.EnsureBucket(ctx, mine); err != nil {
		t.Errorf("the owner's EnsureBucket after the tag was rewritten: %v", err)
	}
	if owned, err := st.Owned(ctx, "tagged-", mine.Owner); err != nil || !slices.Contains(owned, name) {
		t.Errorf("Owned for the owner = %v, %v", owned, err)
	}
	// Removing the tags altogether changes nothing either.
	if err := appA.RemoveBucketTagging(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureBucket(ctx, objectstore.Bucket{Name: name, Owner: "team-b/app/uid-b", User: accessB}); !errors.Is(err, objectstore.ErrConflict) {
		t.Errorf("EnsureBucket for another owner of an untagged bucket: err = %v, want ErrConflict", err)
	}
}

// The records are out of the apps' reach.
func TestAnAppsKeyCannotReadOrWriteTheOwnershipRecords(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	access, secret := user(t, st)
	name := "rec-" + testenv.RandomString(6)
	if _, err := st.EnsureBucket(ctx, objectstore.Bucket{Name: name, Owner: "ns/rec/uid", User: access}); err != nil {
		t.Fatal(err)
	}
	app := clientAs(t, access, secret)
	if _, err := app.PutObject(ctx, objectstore.OwnersBucket, name, bytes.NewReader([]byte("ns/other/uid")), 12, minio.PutObjectOptions{}); err == nil {
		t.Error("the app's key wrote an ownership record")
	}
	if obj, err := app.GetObject(ctx, objectstore.OwnersBucket, name, minio.GetObjectOptions{}); err == nil {
		if b, err := io.ReadAll(obj); err == nil {
			t.Errorf("the app's key read an ownership record: %q", b)
		}
	}
	if err := app.RemoveObject(ctx, objectstore.OwnersBucket, name, minio.RemoveObjectOptions{}); err == nil {
		if _, err := st.EnsureBucket(ctx, objectstore.Bucket{Name: name, Owner: "ns/rec/uid", User: access}); err != nil {
			t.Errorf("after the app's key removed its record: %v", err)
		}
	}
}

// (d) Defect 7: a bucket kept by the Retain policy (released to the admin
// account, the app's user deleted) is not adopted by a new app of the same
// namespace and name — a new UID — until a platform admin hands it over.
func TestAKeptBucketIsNotAdoptedByANewAppOfTheSameName(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	access, secret := user(t, st)
	name := "kept-" + testenv.RandomString(6)
	old := objectstore.Bucket{Name: name, Owner: "shop/web/uid-old", User: access}
	if _, err := st.EnsureBucket(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := put(ctx, clientAs(t, access, secret), name, "old-tenant.txt"); err != nil {
		t.Fatal(err)
	}
	if err := st.Release(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveUser(ctx, access, old.Owner); err != nil {
		t.Fatal(err)
	}
	// The new app's user has the same name: user names derive from
	// namespace, environment and app name.
	newSecret, _ := objectstore.NewSecretKey()
	if err := st.EnsureUser(ctx, access, newSecret, "shop/web/uid-new"); err != nil {
		t.Fatal(err)
	}
	reborn := objectstore.Bucket{Name: name, Owner: "shop/web/uid-new", User: access}
	_, err := st.EnsureBucket(ctx, reborn)
	if !errors.Is(err, objectstore.ErrConflict) || !strings.Contains(err.Error(), "docs/OPERATOR.md") {
		t.Fatalf("a new app of the same name and the kept bucket: err = %v, want ErrConflict naming docs/OPERATOR.md", err)
	}
	newApp := clientAs(t, access, newSecret)
	if _, err := newApp.StatObject(ctx, name, "old-tenant.txt", minio.StatObjectOptions{}); err == nil {
		t.Fatal("the new app reads the kept bucket")
	}
	// An earlier version's kept bucket (tag namespace/name, no record) is
	// not adopted either.
	legacy := "legacykept-" + testenv.RandomString(6)
	admin := clientAs(t, server.AccessKey, server.SecretKey)
	if err := admin.MakeBucket(ctx, legacy, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	legacyTag, _ := tags.NewTags(map[string]string{objectstore.OwnerTag: "shop/web"}, false)
	if err := admin.SetBucketTagging(ctx, legacy, legacyTag); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureBucket(ctx, objectstore.Bucket{Name: legacy, Owner: "shop/web/uid-new", User: access}); !errors.Is(err, objectstore.ErrConflict) {
		t.Errorf("an earlier version's kept bucket: err = %v, want ErrConflict", err)
	}

	// The handover docs/OPERATOR.md describes: the admin rewrites the record.
	if _, err := admin.PutObject(ctx, objectstore.OwnersBucket, name, strings.NewReader("shop/web/uid-new"), -1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureBucket(ctx, reborn); err != nil {
		t.Fatalf("EnsureBucket after the handover: %v", err)
	}
	if _, err := newApp.StatObject(ctx, name, "old-tenant.txt", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the handed-over data: %v", err)
	}
}

// Migration: an earlier version's bucket — tagged namespace/name, owned by
// the app's own user, no record — is adopted and recorded.
func TestAnEarlierVersionsLiveBucketIsAdopted(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	access, _ := user(t, st)
	name := "legacylive-" + testenv.RandomString(6)
	b := objectstore.Bucket{Name: name, Owner: "ns/live/uid-live", User: access}
	if _, err := st.EnsureBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	admin := clientAs(t, server.AccessKey, server.SecretKey)
	legacyTag, _ := tags.NewTags(map[string]string{objectstore.OwnerTag: "ns/live"}, false)
	if err := admin.SetBucketTagging(ctx, name, legacyTag); err != nil {
		t.Fatal(err)
	}
	if err := admin.RemoveObject(ctx, objectstore.OwnersBucket, name, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if changed, err := st.EnsureBucket(ctx, b); err != nil || !changed {
		t.Fatalf("adopting an earlier version's bucket = %v, %v", changed, err)
	}
	if owned, err := st.Owned(ctx, "legacylive-", b.Owner); err != nil || len(owned) != 1 {
		t.Fatalf("after adoption Owned = %v, %v", owned, err)
	}
	if changed, err := st.EnsureBucket(ctx, b); err != nil || changed {
		t.Fatalf("EnsureBucket after adoption = %v, %v; want no change", changed, err)
	}
	// Deleting it removes its record too.
	if _, err := st.RemoveBucket(ctx, name); err != nil {
		t.Fatal(err)
	}
	if owned, err := st.Owned(ctx, "legacylive-", b.Owner); err != nil || len(owned) != 0 {
		t.Fatalf("after RemoveBucket Owned = %v, %v", owned, err)
	}
}

// (b) Once tenant shop exists, a shared-namespace app cannot create the
// bucket a tenant app's would be; a bucket that exists is kept.
func TestBucketsUnderAnotherTenantsPrefixAreNotCreated(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	access, _ := user(t, st)
	tenant := "t" + testenv.RandomString(6)
	reserved := naming.ReservedBucketPrefixes(platformv1.EnvironmentStaging, "", []string{tenant})
	squat := naming.DNSLabel("plattr", "staging", tenant, "web-data")
	_, err := st.EnsureBucket(ctx, objectstore.Bucket{Name: squat, Owner: "default/" + tenant + "/uid", User: access, Reserved: reserved})
	if !errors.Is(err, objectstore.ErrConflict) || !strings.Contains(err.Error(), "spec.storage.buckets") {
		t.Fatalf("a shared app's bucket under a tenant's prefix: err = %v, want ErrConflict naming spec.storage.buckets", err)
	}
	if ok, _ := clientAs(t, server.AccessKey, server.SecretKey).BucketExists(ctx, squat); ok {
		t.Fatal("the bucket was created")
	}
	early := naming.DNSLabel("plattr", "staging", tenant, "old-data")
	b := objectstore.Bucket{Name: early, Owner: "default/" + tenant + "/uid", User: access}
	if _, err := st.EnsureBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.Reserved = reserved
	if changed, err := st.EnsureBucket(ctx, b); err != nil || changed {
		t.Fatalf("an existing bucket after the tenant appeared = %v, %v; want no change", changed, err)
	}
}
