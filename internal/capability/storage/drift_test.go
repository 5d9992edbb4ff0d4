package storage_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/capability/storage"
)

// An app's key drifted when the store holds no such user or another
// secret than its Secret.
func TestDriftedDecisions(t *testing.T) {
	app := capabilitytest.App("shop", "web")
	keys := func(access, secret string) client.Object {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-storage"},
			Data: map[string][]byte{platformv1.KeyAccessKeyID: []byte(access), platformv1.KeySecretAccessKey: []byte(secret)}}
	}
	const user = "plattr-staging-web-1234abcd"
	for _, tt := range []struct {
		name     string
		store    *fakeStore // nil: no object store
		existing []client.Object
		disabled bool
		want     bool
		wantErr  bool
	}{
		{name: "the store holds the Secret's key", store: &fakeStore{perApp: true, secrets: map[string]string{user: "s1"}},
			existing: []client.Object{keys(user, "s1")}, want: false},
		{name: "the key was changed on the store", store: &fakeStore{perApp: true, secrets: map[string]string{user: "s2"}},
			existing: []client.Object{keys(user, "s1")}, want: true},
		{name: "the user was deleted on the store", store: &fakeStore{perApp: true, secrets: map[string]string{}},
			existing: []client.Object{keys(user, "s1")}, want: true},
		{name: "no Secret: the reconciler's to notice, not drift", store: &fakeStore{perApp: true, secrets: map[string]string{}}, want: false},
		{name: "storage off: nothing to drift", store: &fakeStore{perApp: true, secrets: map[string]string{}},
			existing: []client.Object{keys(user, "s1")}, disabled: true, want: false},
		{name: "shared keys: no key of its own to drift", store: &fakeStore{}, existing: []client.Object{keys("ADMIN", "x")}, want: false},
		{name: "no object store", existing: []client.Object{keys(user, "s1")}, want: false},
		{name: "the store down is an error naming it", store: &fakeStore{perApp: true, down: true}, existing: []client.Object{keys(user, "s1")}, wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := capabilitytest.NewEnv(t, tt.existing...)
			c := &storage.Capability{Kube: env.Kube}
			if tt.store != nil {
				c.Store = tt.store
			}
			sp := spec("uploads")
			sp.Enabled = !tt.disabled
			got, err := c.Drifted(context.Background(), capabilitytest.Target(app), sp)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("Drifted = %v (%v), want %v (error: %v)", got, err, tt.want, tt.wantErr)
			}
			if backend, _ := capability.UnavailableBackend(err); tt.wantErr && backend != capability.BackendObjectStore {
				t.Errorf("error %v does not name the object store", err)
			}
			if env.Writes() != 0 {
				t.Errorf("a drift check wrote %d times", env.Writes())
			}
		})
	}
}
