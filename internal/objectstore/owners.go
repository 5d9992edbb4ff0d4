package objectstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
)

// Who owns a bucket is recorded where no app can write: one object per
// bucket in OwnersBucket, a bucket of the platform's admin account, named
// after the bucket and holding the owner (namespace/name/uid). The owner
// tag on the bucket itself is informational only: the bucket's owner — the
// app's own key — may rewrite its tags (issue 17, defect 6). The UID makes
// an app deleted with Retain and re-created under the same name a new
// owner, which does not get the kept buckets by itself (defect 7); a
// platform admin hands them over by rewriting the record (docs/OPERATOR.md).
//
// The object store keeps its own records, rather than PostgreSQL, so
// storage does not depend on the database. Without per-app users
// (S3_ALLOW_SHARED_KEYS) every app holds the admin keys and could rewrite
// the records too: that mode gives up isolation altogether.

// OwnersBucket holds the ownership records.
const OwnersBucket = "plattr-operator-owners"

type ownersBucket struct {
	mu   sync.Mutex
	done bool
}

// ensureOwnersBucket creates OwnersBucket with the admin keys, once per
// process; a failure is retried on the next call.
func (s *Store) ensureOwnersBucket(ctx context.Context) error {
	s.owners.mu.Lock()
	defer s.owners.mu.Unlock()
	if s.owners.done {
		return nil
	}
	exists, err := s.s3.BucketExists(ctx, OwnersBucket)
	if err != nil {
		return s.wrap(err)
	}
	if !exists {
		err := s.s3.MakeBucket(ctx, OwnersBucket, minio.MakeBucketOptions{Region: s.cfg.Region})
		if err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
			return s.wrap(fmt.Errorf("creating the ownership records' bucket %s: %w", OwnersBucket, err))
		}
	}
	s.owners.done = true
	return nil
}

// recordedOwner reads a bucket's record; ok is false when it has none.
func (s *Store) recordedOwner(ctx context.Context, bucket string) (owner string, ok bool, err error) {
	if err := s.ensureOwnersBucket(ctx); err != nil {
		return "", false, err
	}
	obj, err := s.s3.GetObject(ctx, OwnersBucket, bucket, minio.GetObjectOptions{})
	if err == nil {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(obj, 4096))
		_ = obj.Close()
		if err == nil {
			return strings.TrimSpace(string(b)), true, nil
		}
	}
	if isCode(err, "NoSuchKey") {
		return "", false, nil
	}
	return "", false, s.wrap(fmt.Errorf("reading the ownership record of bucket %s: %w", bucket, err))
}

// record writes a bucket's owner.
func (s *Store) record(ctx context.Context, bucket, owner string) error {
	if err := s.ensureOwnersBucket(ctx); err != nil {
		return err
	}
	_, err := s.s3.PutObject(ctx, OwnersBucket, bucket, bytes.NewReader([]byte(owner)), int64(len(owner)),
		minio.PutObjectOptions{ContentType: "text/plain"})
	if err != nil {
		return s.wrap(fmt.Errorf("recording the owner of bucket %s: %w", bucket, err))
	}
	return nil
}

// forget removes a bucket's record, once the bucket is gone.
func (s *Store) forget(ctx context.Context, bucket string) error {
	if err := s.ensureOwnersBucket(ctx); err != nil {
		return err
	}
	if err := s.s3.RemoveObject(ctx, OwnersBucket, bucket, minio.RemoveObjectOptions{}); err != nil && !isCode(err, "NoSuchKey") {
		return s.wrap(fmt.Errorf("removing the ownership record of bucket %s: %w", bucket, err))
	}
	return nil
}

// legacyOwner is the owner tag versions before the records wrote:
// namespace/name, without the UID.
func legacyOwner(owner string) string {
	parts := strings.SplitN(owner, "/", 3)
	if len(parts) < 2 {
		return owner
	}
	return parts[0] + "/" + parts[1]
}

// conflict explains whose a bucket is.
func conflict(bucket, recorded, owner string) error {
	if recorded != owner && legacyOwner(recorded) == legacyOwner(owner) {
		return fmt.Errorf("%w: bucket %s was kept from an earlier Application %s (recorded owner %s, this one is %s); "+
			"a platform admin hands it over as docs/OPERATOR.md “Handing retained data to a new owner” says, or deletes it; or rename the bucket in spec.storage.buckets",
			ErrConflict, bucket, legacyOwner(recorded), recorded, owner)
	}
	return fmt.Errorf("%w: bucket %s belongs to %s; rename the bucket in spec.storage.buckets or remove the other one",
		ErrConflict, bucket, recorded)
}
