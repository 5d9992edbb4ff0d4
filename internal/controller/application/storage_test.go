package application_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/objectstore"
)

func withBuckets(buckets ...platformv1.BucketSpec) func(*platformv1.Application) {
	return func(a *platformv1.Application) {
		a.Spec.Database = nil
		a.Spec.Storage = &platformv1.StorageSpec{Enabled: true, Buckets: buckets}
	}
}

// s3As is an S3 client with an app's keys from its Secret ("" for the
// platform's admin keys).
func s3As(t testing.TB, ns, app string) *minio.Client {
	t.Helper()
	access, secret := s3.AccessKey, s3.SecretKey
	if app != "" {
		data := secretData(t, ns, app+"-storage")
		access, secret = string(data["AWS_ACCESS_KEY_ID"]), string(data["AWS_SECRET_ACCESS_KEY"])
	}
	c, err := minio.New(strings.TrimPrefix(s3.Endpoint(), "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(access, secret, ""), BucketLookup: minio.BucketLookupPath, Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func putObject(c *minio.Client, bucket, key string) error {
	_, err := c.PutObject(context.Background(), bucket, key, bytes.NewReader([]byte("data")), 4, minio.PutObjectOptions{})
	return err
}

func anonymousGet(t testing.TB, bucket, key string) int {
	t.Helper()
	resp, err := http.Get(s3.Endpoint() + "/" + bucket + "/" + key)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestBucketsHaveTheRightPolicyAndKeysOfTheirOwn(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "pics", withBuckets(
		platformv1.BucketSpec{Name: "public", Public: true},
		platformv1.BucketSpec{Name: "private"},
	), func(a *platformv1.Application) {
		a.Spec.CORS = &platformv1.CORSSpec{Origins: []string{"https://admin.example.com"}}
	}))
	create(t, newApp(ns, "docs", withBuckets(platformv1.BucketSpec{Name: "files"})))
	waitPhase(t, ns, "pics", platformv1.PhaseRunning, runningTimeout)
	waitPhase(t, ns, "docs", platformv1.PhaseRunning, runningTimeout)

	cm := configMapData(t, ns, "pics-storage")
	public, private, other := cm["S3_BUCKET_PUBLIC"], cm["S3_BUCKET_PRIVATE"], configMapData(t, ns, "docs-storage")["S3_BUCKET_FILES"]
	if public != "plattr-staging-pics-public" || private != "plattr-staging-pics-private" || cm["S3_ENDPOINT"] != s3.Endpoint() {
		t.Fatalf("storage ConfigMap = %v", cm)
	}
	pics, docs := s3As(t, ns, "pics"), s3As(t, ns, "docs")
	for _, b := range []string{public, private} {
		if err := putObject(pics, b, "hello.txt"); err != nil {
			t.Fatalf("the app's own keys cannot write %s: %v", b, err)
		}
	}
	if err := putObject(pics, other, "intruder.txt"); err == nil {
		t.Fatalf("app pics could write app docs's bucket %s", other)
	}
	if err := putObject(docs, other, "mine.txt"); err != nil {
		t.Fatalf("app docs cannot write its own bucket: %v", err)
	}
	if code := anonymousGet(t, public, "hello.txt"); code != http.StatusOK {
		t.Errorf("anonymous read of the public bucket: HTTP %d, want 200", code)
	}
	if code := anonymousGet(t, private, "hello.txt"); code != http.StatusForbidden {
		t.Errorf("anonymous read of the private bucket: HTTP %d, want 403", code)
	}
	cors, err := s3As(t, "", "").GetBucketCors(context.Background(), private)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cors.CORSRules[0].AllowedOrigin, " "); got != "https://admin.example.com https://pics.staging."+baseDomain {
		t.Errorf("CORS origins = %q: want the app's own origin and spec.cors.origins, exactly", got)
	}

	// Turning the bucket private takes anonymous access away; dropping a
	// bucket from the spec deletes it (staging's policy is Delete).
	update(t, client.ObjectKey{Namespace: ns, Name: "pics"}, &platformv1.Application{}, func(a *platformv1.Application) {
		a.Spec.Storage.Buckets = []platformv1.BucketSpec{{Name: "public", Public: false}}
	})
	eventually(t, runningTimeout, "the bucket to turn private and the dropped one to go", func() error {
		if code := anonymousGet(t, public, "hello.txt"); code != http.StatusForbidden {
			return fmt.Errorf("anonymous read: HTTP %d", code)
		}
		if ok, err := s3As(t, "", "").BucketExists(context.Background(), private); err != nil || ok {
			return fmt.Errorf("bucket %s still exists (%v)", private, err)
		}
		return nil
	})
	if err := putObject(pics, public, "still-mine.txt"); err != nil {
		t.Errorf("the owner lost write access when the bucket turned private: %v", err)
	}
}

func TestDeletingAnAppEmptiesItsBucketsOrKeepsThem(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "bulk", withBuckets(platformv1.BucketSpec{Name: "data"})))
	create(t, newApp(ns, "keep", withBuckets(platformv1.BucketSpec{Name: "data"}), func(a *platformv1.Application) {
		a.Spec.Database = &platformv1.DatabaseSpec{DeletionPolicy: platformv1.DeletionPolicyRetain}
	}))
	waitPhase(t, ns, "bulk", platformv1.PhaseRunning, runningTimeout)
	waitPhase(t, ns, "keep", platformv1.PhaseRunning, runningTimeout)
	bulk, keep := "plattr-staging-bulk-data", "plattr-staging-keep-data"

	const n = 1030 // more than one page of 1,000 keys
	fill := func(app, bucket string, n int) {
		c := s3As(t, ns, app)
		errs := make(chan error, n)
		sem := make(chan struct{}, 16)
		for i := 0; i < n; i++ {
			sem <- struct{}{}
			go func(i int) {
				defer func() { <-sem }()
				errs <- putObject(c, bucket, fmt.Sprintf("p%d/o%05d", i%4, i))
			}(i)
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	fill("bulk", bulk, n)
	fill("keep", keep, 10)

	ctx := context.Background()
	for _, name := range []string{"bulk", "keep"} {
		if err := k8s.Delete(ctx, getApp(t, ns, name)); err != nil {
			t.Fatal(err)
		}
	}
	admin := s3As(t, "", "")
	for _, name := range []string{"bulk", "keep"} {
		eventually(t, runningTimeout, name+" to be deleted", func() error {
			err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &platformv1.Application{})
			if isNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there: %v", err)
		})
	}
	if ok, err := admin.BucketExists(ctx, bulk); err != nil || ok {
		t.Errorf("bucket %s with %d objects still exists after delete with policy Delete (%v)", bulk, n, err)
	}
	count := 0
	for obj := range admin.ListObjects(ctx, keep, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		count++
	}
	if count != 10 {
		t.Errorf("bucket %s has %d objects after delete with policy Retain, want 10", keep, count)
	}
}

func TestObjectStoreOutageIsReportedAndRecoversByItself(t *testing.T) {
	checkOutage(t, outage{
		stop: s3.Server.Stop, start: s3.Start,
		app:       newApp("", "outage", withBuckets(platformv1.BucketSpec{Name: "b"})),
		condition: platformv1.ConditionStorageReady, reason: platformv1.ReasonObjectStoreUnavailable,
		names: "object store at " + s3.Endpoint(),
	})
}

func TestStorageKeysAreStableAndRotateOnSecretDeletion(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "rot", withBuckets(platformv1.BucketSpec{Name: "b"})))
	waitPhase(t, ns, "rot", platformv1.PhaseRunning, runningTimeout)
	bucket := "plattr-staging-rot-b"
	before := secretData(t, ns, "rot-storage")
	oldClient := s3As(t, ns, "rot")

	// A spec change reconciles without touching the keys.
	setEnvVars(t, ns, "rot", platformv1.EnvVar{Name: "MODE", Value: "x"})
	eventually(t, runningTimeout, "the spec change to be reconciled", func() error {
		app := getApp(t, ns, "rot")
		if app.Status.ObservedGeneration != app.Generation || app.Status.Phase != platformv1.PhaseRunning {
			return fmt.Errorf("generation %d observed %d, phase %s", app.Generation, app.Status.ObservedGeneration, app.Status.Phase)
		}
		return nil
	})
	if after := secretData(t, ns, "rot-storage"); string(after["AWS_SECRET_ACCESS_KEY"]) != string(before["AWS_SECRET_ACCESS_KEY"]) {
		t.Fatal("a spec change replaced the secret key")
	}

	hash := podTemplateHash(t, ns, "rot")
	if err := k8s.Delete(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rot-storage"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, runningTimeout, "a new secret key", func() error {
		after := &corev1.Secret{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "rot-storage"}, after); err != nil {
			return err
		}
		if string(after.Data["AWS_SECRET_ACCESS_KEY"]) == string(before["AWS_SECRET_ACCESS_KEY"]) {
			return fmt.Errorf("same key")
		}
		return nil
	})
	eventually(t, runningTimeout, "the pods to roll with the new key", func() error {
		if podTemplateHash(t, ns, "rot") == hash {
			return fmt.Errorf("config hash unchanged")
		}
		return nil
	})
	if err := putObject(s3As(t, ns, "rot"), bucket, "new.txt"); err != nil {
		t.Fatalf("the new key does not work: %v", err)
	}
	if err := putObject(oldClient, bucket, "old.txt"); err == nil {
		t.Fatal("the old key still works after rotation")
	}
}

// Found by the chaos test (1 run in about 10, under load): an app Running
// whose Secret's storage key the store did not accept. An operator killed
// mid-rotation can leave a key write in flight that lands after its
// successor's; nothing about the app changes afterwards, so nothing
// reconciled it. The drift sweep now compares every per-app user's key with
// its Secret and sets the Secret's back.
//
// Serial: the sweep runs every second, so on a loaded machine it can set the
// key back before the test has seen the changed key fail.
func TestADriftedStorageKeyIsNoticedAndSetBack(t *testing.T) {
	startOperator(t)
	ns := newNamespace(t)
	create(t, newApp(ns, "keyed", withBuckets(platformv1.BucketSpec{Name: "files"})))
	waitPhase(t, ns, "keyed", platformv1.PhaseRunning, runningTimeout)
	bucket := configMapData(t, ns, "keyed-storage")["S3_BUCKET_FILES"]
	if err := putObject(s3As(t, ns, "keyed"), bucket, "before"); err != nil {
		t.Fatal(err)
	}

	// Settled: the sweeps every second write nothing.
	time.Sleep(2 * time.Second)
	mark := writes.mark()
	time.Sleep(3 * time.Second)
	if n, what := writesTo(writes.since(mark), ns, "keyed"); n > 0 {
		t.Fatalf("a settled app was written %d times while the drift sweep ran: %v", n, what)
	}

	// The store's key changes behind the Secret's back.
	store, err := objectstore.New(objectstore.Config{Endpoint: s3.Endpoint(), Region: "us-east-1",
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, AdminEndpoint: s3.AdminEndpoint()})
	if err != nil {
		t.Fatal(err)
	}
	user := string(secretData(t, ns, "keyed-storage")["AWS_ACCESS_KEY_ID"])
	// The owner the store records: namespace/name/uid.
	owner := ns + "/keyed/" + string(getApp(t, ns, "keyed").UID)
	if err := store.EnsureUser(context.Background(), user, "a-key-from-a-killed-operator", owner); err != nil {
		t.Fatal(err)
	}
	if err := putObject(s3As(t, ns, "keyed"), bucket, "diverged"); err == nil {
		t.Fatal("the Secret's key still works after the store's changed: the test changed nothing")
	}
	eventually(t, 20*time.Second, "the Secret's storage key to work again", func() error {
		return putObject(s3As(t, ns, "keyed"), bucket, "after")
	})
	if app := getApp(t, ns, "keyed"); app.Status.Phase != platformv1.PhaseRunning {
		t.Errorf("phase %s after the key was set back", app.Status.Phase)
	}
}
