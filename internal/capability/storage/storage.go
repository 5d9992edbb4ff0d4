// Package storage is the storage capability: buckets and an access key of
// the owner's own at the object store, handed to the app in a ConfigMap and
// a Secret.
package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/naming"
	backend "github.com/plattr/plattr/internal/objectstore"
)

// Name of the capability, in Sources.
const Name = "storage"

// Backend is what the capability asks of the object store;
// *objectstore.Store implements it.
type Backend interface {
	Endpoint() string
	Region() string
	PerAppUsers() bool
	SharedKeys() (access, secret string)
	EnsureUser(ctx context.Context, access, secret, owner string) error
	RemoveUser(ctx context.Context, access, owner string) error
	EnsureBucket(ctx context.Context, b backend.Bucket) (changed bool, err error)
	Owned(ctx context.Context, prefix, owner string) ([]string, error)
	RemoveBucket(ctx context.Context, bucket string) (int, error)
	Release(ctx context.Context, bucket string) error
	// UserSecrets lists every user's secret key, by access key, in one
	// call; the drift check compares them with the owners' Secrets.
	UserSecrets(ctx context.Context) (map[string]string, error)
}

// Capability provisions buckets and keys.
type Capability struct {
	capability.Kube
	// Store is nil when the platform has no object store.
	Store Backend
	// AllowSharedKeys lets apps have the platform's own keys when the store
	// has no per-app users (S3_ALLOW_SHARED_KEYS).
	AllowSharedKeys bool
}

// Spec is what one owner asks of the object store.
type Spec struct {
	Enabled bool
	Buckets []platformv1.BucketSpec
	// BucketName gives a bucket's full name at the store.
	BucketName func(bucket string) string
	// BucketsPrefix starts every bucket name of this owner (see naming.BucketsPrefix).
	BucketsPrefix string
	// User is the owner's access key ID; LegacyUser, if set, is one an
	// earlier version gave it, removed once the Secret holds User.
	User, LegacyUser string
	// Owner, namespace/name/uid, is recorded for the buckets (and checked
	// for the user), so no other owner — nor a re-created one of the same
	// name — takes them over.
	Owner string
	// Name of the ConfigMap and Secret, in the target's namespace.
	Secret string
	// Origins may call the buckets from a browser (CORS).
	Origins []string
	// Retain keeps dropped buckets and their data (deletionPolicy Retain).
	Retain bool
	// Reserved are other tenants' bucket name prefixes, under which no new
	// bucket is made (naming.ReservedBucketPrefixes).
	Reserved []string
}

// Ensure provisions the buckets and the key. As with the database, the
// Secret is the source of truth for the key: it changes only when the
// Secret is deleted, and then the store gets the new secret before the
// Secret is written. It returns the ConfigMap and Secret as Sources.
func (c *Capability) Ensure(ctx context.Context, t capability.Target, spec Spec) ([]capability.Source, error) {
	if !spec.Enabled {
		t.SetCondition(platformv1.ConditionStorageReady, metav1.ConditionTrue, platformv1.ReasonDisabled, "spec.storage.enabled is false")
		return nil, nil
	}
	if c.Store == nil {
		t.SetCondition(platformv1.ConditionStorageReady, metav1.ConditionFalse, platformv1.ReasonStorageNotConfigured,
			"this platform has no object store: the platform team sets S3_ENDPOINT and its keys on the operator (or set spec.storage.enabled to false)")
		return nil, errors.New("storage requested but S3_ENDPOINT is not configured")
	}
	secret, err := c.CredentialsSecret(ctx, t, platformv1.ConditionStorageReady, spec.Secret, "the keys")
	if err != nil {
		return nil, c.failed(t, err)
	}

	access, secretKey := c.Store.SharedKeys()
	user := ""
	switch {
	case c.Store.PerAppUsers():
		user = spec.User
		access = user
		if secret != nil && string(secret.Data[platformv1.KeyAccessKeyID]) == user && len(secret.Data[platformv1.KeySecretAccessKey]) > 0 {
			secretKey = string(secret.Data[platformv1.KeySecretAccessKey])
		} else {
			if secretKey, err = backend.NewSecretKey(); err != nil {
				return nil, c.failed(t, err)
			}
			if t.Established && secret == nil && provisioned(t.Owner) {
				c.Event(t, corev1.EventTypeNormal, platformv1.EventRotated, "Rotate",
					"Secret %s was missing: issued a new secret key for %s", spec.Secret, user)
			}
		}
		if err := c.Store.EnsureUser(ctx, user, secretKey, spec.Owner); err != nil {
			return nil, c.failed(t, err)
		}
	case !c.AllowSharedKeys:
		// The platform's keys reach every bucket: handing them to an app
		// would let it read and delete every other app's data.
		t.SetCondition(platformv1.ConditionStorageReady, metav1.ConditionFalse, platformv1.ReasonSharedKeysRefused,
			"this object store gives apps no keys of their own (S3_ADMIN_ENDPOINT is not set), and the platform's keys would let this app read and delete every other app's buckets; "+
				"the platform team sets S3_ADMIN_ENDPOINT, or S3_ALLOW_SHARED_KEYS=true to accept that risk (or set spec.storage.enabled to false)")
		return nil, errors.New("storage refused: no per-app users and S3_ALLOW_SHARED_KEYS is not set")
	}

	config := map[string]string{
		platformv1.KeyS3Endpoint:       c.Store.Endpoint(),
		platformv1.KeyS3Region:         c.Store.Region(),
		platformv1.KeyS3ForcePathStyle: "true",
	}
	var wanted []string
	for _, b := range spec.Buckets {
		name := spec.BucketName(b.Name)
		wanted = append(wanted, name)
		changed, err := c.Store.EnsureBucket(ctx, backend.Bucket{
			Name: name, Owner: spec.Owner, User: user, LegacyUser: spec.LegacyUser, Public: b.Public, Origins: slices.Clone(spec.Origins),
			Reserved: spec.Reserved,
		})
		if err != nil {
			return nil, c.failed(t, err)
		}
		if changed && t.Settled {
			c.Event(t, corev1.EventTypeNormal, platformv1.EventRestored, "Reconcile",
				"bucket %s differed from the spec (created, owner, CORS or policy) and was corrected", name)
		}
		config[naming.BucketEnvVar(b.Name)] = name
		if b.MaxFileSize != nil {
			// S3 cannot cap object sizes by policy; apps enforce it, e.g. in presigned POSTs.
			config[naming.BucketEnvVar(b.Name)+"_MAX_FILE_SIZE"] = strconv.FormatInt(b.MaxFileSize.Value(), 10)
		}
	}
	if err := c.removeDropped(ctx, t, spec, wanted); err != nil {
		return nil, c.failed(t, err)
	}

	// The ConfigMap and the Secret share one name, <app>-storage.
	keys := map[string][]byte{platformv1.KeyAccessKeyID: []byte(access), platformv1.KeySecretAccessKey: []byte(secretKey)}
	sources, err := c.Provide(ctx, t, Name, platformv1.ConditionStorageReady, spec.Secret, config, secret, keys)
	if err != nil {
		return nil, c.failed(t, err)
	}

	if user != "" && secret != nil && spec.LegacyUser != "" {
		// Versions before the hashed user names gave the app another user;
		// the Secret now holds the new one, so the old user goes.
		if old := string(secret.Data[platformv1.KeyAccessKeyID]); old != user && old == spec.LegacyUser {
			if err := c.Store.RemoveUser(ctx, old, spec.Owner); err != nil {
				return nil, c.failed(t, err)
			}
		}
	}

	msg := fmt.Sprintf("%d bucket(s) at %s; keys in Secret %s", len(wanted), c.Store.Endpoint(), spec.Secret)
	if !c.Store.PerAppUsers() {
		msg += "; this object store has no per-app users, so the app shares the platform's keys"
	}
	t.SetCondition(platformv1.ConditionStorageReady, metav1.ConditionTrue, platformv1.ReasonProvisioned, msg)
	return sources, nil
}

// removeDropped applies the deletion policy to buckets this owner has that
// the spec no longer lists.
func (c *Capability) removeDropped(ctx context.Context, t capability.Target, spec Spec, wanted []string) error {
	owned, err := c.Store.Owned(ctx, spec.BucketsPrefix, spec.Owner)
	if err != nil {
		return err
	}
	for _, b := range owned {
		if slices.Contains(wanted, b) || spec.Retain {
			continue // Retain: kept, with its data, until someone deletes it by hand
		}
		n, err := c.Store.RemoveBucket(ctx, b)
		if err != nil {
			return err
		}
		c.Event(t, corev1.EventTypeNormal, platformv1.EventCleanedUp, "Reconcile",
			"bucket %s was removed from the spec: deleted it and its %d object(s) (deletionPolicy Delete)", b, n)
	}
	return nil
}

// Remove applies the deletion policy to the owner's buckets: Delete empties
// (every page, every version) and removes them; retain keeps them and their
// data and hands them to the platform's account. The owner's key is revoked
// either way.
func (c *Capability) Remove(ctx context.Context, spec Spec, retain bool) error {
	buckets, err := c.Store.Owned(ctx, spec.BucketsPrefix, spec.Owner)
	if err != nil {
		return err
	}
	for _, b := range buckets {
		if retain {
			if err := c.Store.Release(ctx, b); err != nil {
				return err
			}
			continue
		}
		if _, err := c.Store.RemoveBucket(ctx, b); err != nil {
			return err
		}
	}
	if c.Store.PerAppUsers() {
		return c.Store.RemoveUser(ctx, spec.User, spec.Owner)
	}
	return nil
}

// LastGood is the ConfigMap and Secret an earlier reconcile wrote.
func (c *Capability) LastGood(ctx context.Context, t capability.Target, spec Spec) ([]capability.Source, error) {
	return c.Kube.LastGood(ctx, t, Name, spec.Secret, true)
}

// provisioned reads whether the condition said Provisioned before this
// reconcile started changing it.
func provisioned(owner capability.Owner) bool {
	c := capability.Condition(owner, platformv1.ConditionStorageReady)
	return c != nil && c.Reason == platformv1.ReasonProvisioned
}

func (c *Capability) failed(t capability.Target, err error) error {
	switch {
	case errors.Is(err, capability.ErrSecretConflict), errors.Is(err, capability.ErrRotationPending):
		return err
	case errors.Is(err, backend.ErrConflict):
		t.SetCondition(platformv1.ConditionStorageReady, metav1.ConditionFalse, platformv1.ReasonBucketConflict, err.Error())
		return err
	case errors.Is(err, backend.ErrUserConflict):
		t.SetCondition(platformv1.ConditionStorageReady, metav1.ConditionFalse, platformv1.ReasonUserConflict, err.Error())
		return err
	default:
		t.SetCondition(platformv1.ConditionStorageReady, metav1.ConditionFalse, platformv1.ReasonObjectStoreUnavailable,
			fmt.Sprintf("%v; check that the object store is reachable and S3_ENDPOINT and its keys are right", err))
		return capability.Unavailable(capability.BackendObjectStore, err)
	}
}
