package storage_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/capability/storage"
	"github.com/plattr/plattr/internal/objectstore"
)

// fakeStore keeps buckets and users in maps. The real store's effects are
// tested against versitygw in internal/objectstore.
type fakeStore struct {
	perApp  bool
	down    bool
	buckets map[string]string // name → owner
	users   map[string]string // access key → owner
	secrets map[string]string // access key → secret key, for UserSecrets
	removed []string
}

func (f *fakeStore) UserSecrets(context.Context) (map[string]string, error) {
	if f.down {
		return nil, errors.New("connection refused")
	}
	return f.secrets, nil
}

func (f *fakeStore) Endpoint() string                    { return "http://s3" }
func (f *fakeStore) Region() string                      { return "us-east-1" }
func (f *fakeStore) PerAppUsers() bool                   { return f.perApp }
func (f *fakeStore) SharedKeys() (access, secret string) { return "ADMIN", "admin-secret" }

func (f *fakeStore) EnsureUser(_ context.Context, access, _, owner string) error {
	if f.down {
		return errors.New("connection refused")
	}
	if o, ok := f.users[access]; ok && o != owner {
		return objectstore.ErrUserConflict
	}
	f.users[access] = owner
	return nil
}

func (f *fakeStore) RemoveUser(_ context.Context, access, owner string) error {
	if f.users[access] == owner {
		delete(f.users, access)
	}
	return nil
}

func (f *fakeStore) EnsureBucket(_ context.Context, b objectstore.Bucket) (bool, error) {
	if f.down {
		return false, errors.New("connection refused")
	}
	if o, ok := f.buckets[b.Name]; ok {
		if o != b.Owner {
			return false, objectstore.ErrConflict
		}
		return false, nil
	}
	f.buckets[b.Name] = b.Owner
	return true, nil
}

func (f *fakeStore) Owned(_ context.Context, prefix, owner string) ([]string, error) {
	var out []string
	for b, o := range f.buckets {
		if o == owner && strings.HasPrefix(b, prefix) {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeStore) RemoveBucket(_ context.Context, b string) (int, error) {
	delete(f.buckets, b)
	f.removed = append(f.removed, b)
	return 0, nil
}

func (f *fakeStore) Release(_ context.Context, b string) error {
	f.buckets[b] = ""
	return nil
}

func spec(buckets ...string) storage.Spec {
	s := storage.Spec{
		Enabled:       true,
		BucketName:    func(b string) string { return "plattr-staging-web-" + b },
		BucketsPrefix: "plattr-staging-web-",
		User:          "plattr-staging-web-1234abcd",
		Owner:         "shop/web",
		Secret:        "web-storage",
	}
	for _, b := range buckets {
		s.Buckets = append(s.Buckets, platformv1.BucketSpec{Name: b})
	}
	return s
}

func TestEnsureDecisions(t *testing.T) {
	tests := []struct {
		name        string
		store       *fakeStore // nil: no object store configured
		allowShared bool
		spec        storage.Spec
		wantReason  string
		wantAccess  string // the key ID handed to the app; "" when none is
		wantBuckets []string
		wantRemoved []string
		wantBackend bool
	}{
		{name: "no object store configured", spec: spec("uploads"), wantReason: platformv1.ReasonStorageNotConfigured},
		{name: "shared admin keys are refused by default", store: &fakeStore{}, spec: spec("uploads"),
			wantReason: platformv1.ReasonSharedKeysRefused},
		{name: "shared keys when the platform opts in", store: &fakeStore{}, allowShared: true, spec: spec("uploads"),
			wantReason: platformv1.ReasonProvisioned, wantAccess: "ADMIN", wantBuckets: []string{"plattr-staging-web-uploads"}},
		{name: "a user of the app's own", store: &fakeStore{perApp: true}, spec: spec("uploads", "avatars"),
			wantReason: platformv1.ReasonProvisioned, wantAccess: "plattr-staging-web-1234abcd",
			wantBuckets: []string{"plattr-staging-web-avatars", "plattr-staging-web-uploads"}},
		{name: "a user another app owns is never overwritten",
			store: &fakeStore{perApp: true, users: map[string]string{"plattr-staging-web-1234abcd": "other/web"}}, spec: spec("uploads"),
			wantReason: platformv1.ReasonUserConflict},
		{name: "a bucket another app owns is a conflict",
			store: &fakeStore{perApp: true, buckets: map[string]string{"plattr-staging-web-uploads": "other/web"}}, spec: spec("uploads"),
			wantReason: platformv1.ReasonBucketConflict, wantBuckets: []string{"plattr-staging-web-uploads"}},
		{name: "a bucket dropped from the spec goes (deletionPolicy Delete)",
			store: &fakeStore{perApp: true, buckets: map[string]string{"plattr-staging-web-old": "shop/web", "plattr-staging-web-keep": "other/x"}}, spec: spec("uploads"),
			wantReason: platformv1.ReasonProvisioned, wantAccess: "plattr-staging-web-1234abcd",
			wantBuckets: []string{"plattr-staging-web-keep", "plattr-staging-web-uploads"}, wantRemoved: []string{"plattr-staging-web-old"}},
		{name: "a dropped bucket stays with Retain",
			store:      &fakeStore{perApp: true, buckets: map[string]string{"plattr-staging-web-old": "shop/web"}},
			spec:       func() storage.Spec { s := spec("uploads"); s.Retain = true; return s }(),
			wantReason: platformv1.ReasonProvisioned, wantAccess: "plattr-staging-web-1234abcd",
			wantBuckets: []string{"plattr-staging-web-old", "plattr-staging-web-uploads"}},
		{name: "store down: unavailable, retried when it answers", store: &fakeStore{perApp: true, down: true}, spec: spec("uploads"),
			wantReason: platformv1.ReasonObjectStoreUnavailable, wantBackend: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := capabilitytest.App("shop", "web")
			env := capabilitytest.NewEnv(t)
			c := &storage.Capability{Kube: env.Kube, AllowSharedKeys: tt.allowShared}
			if tt.store != nil {
				if tt.store.buckets == nil {
					tt.store.buckets = map[string]string{}
				}
				if tt.store.users == nil {
					tt.store.users = map[string]string{}
				}
				c.Store = tt.store
			}
			_, err := c.Ensure(context.Background(), capabilitytest.Target(app), tt.spec)

			cond := capabilitytest.Condition(t, app, platformv1.ConditionStorageReady)
			if cond.Reason != tt.wantReason {
				t.Fatalf("StorageReady %s/%s (%s), want reason %s", cond.Status, cond.Reason, cond.Message, tt.wantReason)
			}
			if (err == nil) != (cond.Status == metav1.ConditionTrue) {
				t.Errorf("error %v with condition %s", err, cond.Status)
			}
			if _, ok := capability.UnavailableBackend(err); ok != tt.wantBackend {
				t.Errorf("error %v marks the store unavailable: %v, want %v", err, ok, tt.wantBackend)
			}
			secret := &corev1.Secret{}
			getErr := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "web-storage"}, secret)
			if tt.wantAccess == "" {
				if getErr == nil {
					t.Errorf("keys handed out on %s: %s", tt.wantReason, secret.Data[platformv1.KeyAccessKeyID])
				}
			} else if got := string(secret.Data[platformv1.KeyAccessKeyID]); got != tt.wantAccess {
				t.Errorf("access key %q, want %q (get: %v)", got, tt.wantAccess, getErr)
			}
			if tt.store != nil {
				var got []string
				for b := range tt.store.buckets {
					got = append(got, b)
				}
				slices.Sort(got)
				if !slices.Equal(got, tt.wantBuckets) {
					t.Errorf("buckets %v, want %v", got, tt.wantBuckets)
				}
				if !slices.Equal(tt.store.removed, tt.wantRemoved) {
					t.Errorf("removed %v, want %v", tt.store.removed, tt.wantRemoved)
				}
			}
		})
	}
}

// The key changes only when the Secret is gone: a second Ensure keeps it.
func TestKeyKeptUntilTheSecretIsDeleted(t *testing.T) {
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t)
	c := &storage.Capability{Kube: env.Kube, Store: &fakeStore{perApp: true, buckets: map[string]string{}, users: map[string]string{}}}
	key := func() string {
		s := &corev1.Secret{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "web-storage"}, s); err != nil {
			t.Fatal(err)
		}
		return string(s.Data[platformv1.KeySecretAccessKey])
	}
	ctx := context.Background()
	if _, err := c.Ensure(ctx, capabilitytest.Target(app), spec("uploads")); err != nil {
		t.Fatal(err)
	}
	first := key()
	writes := env.Writes()
	if _, err := c.Ensure(ctx, capabilitytest.Target(app), spec("uploads")); err != nil {
		t.Fatal(err)
	}
	if key() != first || env.Writes() != writes {
		t.Errorf("a no-op Ensure changed the key or wrote %d times", env.Writes()-writes)
	}
	if err := env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-storage"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ensure(ctx, capabilitytest.Target(app), spec("uploads")); err != nil {
		t.Fatal(err)
	}
	if key() == first {
		t.Error("deleting the Secret did not issue a new key")
	}
}
