package application

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
	"github.com/plattr/plattr/internal/objectstore"
)

// reconcileStorage provisions the app's buckets and keys. As with the
// database, the Secret is the source of truth for the keys: they change only
// when the Secret is deleted, and then the store gets the new secret before
// the Secret is written.
func (r *Reconciler) reconcileStorage(ctx context.Context, s *scope) error {
	app := s.app
	if !app.Spec.StorageEnabled() {
		setCondition(app, platformv1.ConditionStorageReady, metav1.ConditionTrue, platformv1.ReasonDisabled, "spec.storage.enabled is false")
		return nil
	}
	if r.Store == nil {
		setCondition(app, platformv1.ConditionStorageReady, metav1.ConditionFalse, platformv1.ReasonStorageNotConfigured,
			"this platform has no object store: the platform team sets S3_ENDPOINT and its keys on the operator (or set spec.storage.enabled to false)")
		return s.fail(errors.New("storage requested but S3_ENDPOINT is not configured"))
	}
	objects := naming.ObjectsFor(app.Name)
	secret, err := r.credentialsSecret(ctx, s, platformv1.ConditionStorageReady, objects.StorageSecret, "the keys")
	if err != nil {
		if errors.Is(err, errSecretConflict) {
			return err
		}
		return r.storageFailed(s, err)
	}

	owner := app.Namespace + "/" + app.Name
	access, secretKey := r.Store.SharedKeys()
	user := ""
	switch {
	case r.Store.PerAppUsers():
		user = naming.StorageUser(app)
		access = user
		if secret != nil && string(secret.Data[platformv1.KeyAccessKeyID]) == user && len(secret.Data[platformv1.KeySecretAccessKey]) > 0 {
			secretKey = string(secret.Data[platformv1.KeySecretAccessKey])
		} else {
			if secretKey, err = objectstore.NewSecretKey(); err != nil {
				return r.storageFailed(s, err)
			}
			if s.before.Status.ObservedGeneration > 0 && secret == nil && provisioned(s.before, platformv1.ConditionStorageReady) {
				r.Recorder.Eventf(app, nil, corev1.EventTypeNormal, EventRotated, "Rotate",
					"Secret %s was missing: issued a new secret key for %s", objects.StorageSecret, user)
			}
		}
		if err := r.Store.EnsureUser(ctx, user, secretKey, owner); err != nil {
			return r.storageFailed(s, err)
		}
	case !r.Config.S3.AllowSharedKeys:
		// The platform's keys reach every bucket: handing them to an app
		// would let it read and delete every other app's data.
		setCondition(app, platformv1.ConditionStorageReady, metav1.ConditionFalse, platformv1.ReasonSharedKeysRefused,
			"this object store gives apps no keys of their own (S3_ADMIN_ENDPOINT is not set), and the platform's keys would let this app read and delete every other app's buckets; "+
				"the platform team sets S3_ADMIN_ENDPOINT, or S3_ALLOW_SHARED_KEYS=true to accept that risk (or set spec.storage.enabled to false)")
		return s.fail(errors.New("storage refused: no per-app users and S3_ALLOW_SHARED_KEYS is not set"))
	}

	origins := appOrigins(app, r.Config.BaseDomain)
	config := map[string]string{
		platformv1.KeyS3Endpoint:       r.Store.Endpoint(),
		platformv1.KeyS3Region:         r.Store.Region(),
		platformv1.KeyS3ForcePathStyle: "true",
	}
	var wanted []string
	for _, b := range app.Spec.Storage.Buckets {
		name := naming.Bucket(app, b.Name)
		wanted = append(wanted, name)
		changed, err := r.Store.EnsureBucket(ctx, objectstore.Bucket{
			Name: name, Owner: owner, User: user, Public: b.Public,
			Origins: append(slices.Clone(origins), corsOrigins(app)...),
		})
		if err != nil {
			return r.storageFailed(s, err)
		}
		if changed && s.settled {
			r.Recorder.Eventf(app, nil, corev1.EventTypeNormal, EventRestored, "Reconcile",
				"bucket %s differed from the spec (created, owner, CORS or policy) and was corrected", name)
		}
		config[naming.BucketEnvVar(b.Name)] = name
		if b.MaxFileSize != nil {
			// S3 cannot cap object sizes by policy; apps enforce it, e.g. in presigned POSTs.
			config[naming.BucketEnvVar(b.Name)+"_MAX_FILE_SIZE"] = strconv.FormatInt(b.MaxFileSize.Value(), 10)
		}
	}
	if err := r.removeDroppedBuckets(ctx, s, owner, wanted); err != nil {
		return r.storageFailed(s, err)
	}

	// The ConfigMap and the Secret share one name, <app>-storage.
	keys := map[string][]byte{platformv1.KeyAccessKeyID: []byte(access), platformv1.KeySecretAccessKey: []byte(secretKey)}
	if err := r.provide(ctx, s, capabilityStorage, platformv1.ConditionStorageReady, objects.StorageSecret, config, secret, keys); err != nil {
		if errors.Is(err, errRotationPending) {
			return err
		}
		return r.storageFailed(s, err)
	}

	if user != "" && secret != nil {
		// Versions before the hashed user names gave the app another user;
		// the Secret now holds the new one, so the old user goes.
		if old := string(secret.Data[platformv1.KeyAccessKeyID]); old != user && old == naming.LegacyStorageUser(app) {
			if err := r.Store.RemoveUser(ctx, old, owner); err != nil {
				return r.storageFailed(s, err)
			}
		}
	}

	msg := fmt.Sprintf("%d bucket(s) at %s; keys in Secret %s", len(wanted), r.Store.Endpoint(), objects.StorageSecret)
	if !r.Store.PerAppUsers() {
		msg += "; this object store has no per-app users, so the app shares the platform's keys"
	}
	setCondition(app, platformv1.ConditionStorageReady, metav1.ConditionTrue, platformv1.ReasonProvisioned, msg)
	return nil
}

// removeDroppedBuckets applies the deletion policy to buckets this app owns
// that the spec no longer lists.
func (r *Reconciler) removeDroppedBuckets(ctx context.Context, s *scope, owner string, wanted []string) error {
	owned, err := r.Store.Owned(ctx, naming.BucketsPrefix(s.app), owner)
	if err != nil {
		return err
	}
	for _, b := range owned {
		if slices.Contains(wanted, b) {
			continue
		}
		if s.app.Spec.DeletionPolicy() == platformv1.DeletionPolicyRetain {
			continue // kept, with its data, until someone deletes it by hand
		}
		n, err := r.Store.RemoveBucket(ctx, b)
		if err != nil {
			return err
		}
		r.Recorder.Eventf(s.app, nil, corev1.EventTypeNormal, EventCleanedUp, "Reconcile",
			"bucket %s was removed from the spec: deleted it and its %d object(s) (deletionPolicy Delete)", b, n)
	}
	return nil
}

func (r *Reconciler) storageFailed(s *scope, err error) error {
	switch {
	case errors.Is(err, objectstore.ErrConflict):
		setCondition(s.app, platformv1.ConditionStorageReady, metav1.ConditionFalse, platformv1.ReasonBucketConflict, err.Error())
	case errors.Is(err, objectstore.ErrUserConflict):
		setCondition(s.app, platformv1.ConditionStorageReady, metav1.ConditionFalse, platformv1.ReasonUserConflict, err.Error())
	default:
		setCondition(s.app, platformv1.ConditionStorageReady, metav1.ConditionFalse, platformv1.ReasonObjectStoreUnavailable,
			fmt.Sprintf("%v; check that the object store is reachable and S3_ENDPOINT and its keys are right", err))
		r.backends.failed(backendObjectStore, s.app) // retried at once when it answers
	}
	return s.fail(err)
}

// appOrigins are the exact browser origins of the app itself.
func appOrigins(app *platformv1.Application, baseDomain string) []string {
	return []string{"https://" + naming.Host(app, baseDomain)}
}

func corsOrigins(app *platformv1.Application) []string {
	if app.Spec.CORS == nil {
		return nil
	}
	return app.Spec.CORS.Origins
}
