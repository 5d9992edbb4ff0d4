package objectstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/cors"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/naming"
)

// OwnerTag is the bucket tag naming the Application a bucket belongs to.
// It is informational: the bucket's own key may rewrite it, so ownership is
// read from the records in OwnersBucket (owners.go). Versions before the
// records wrote namespace/name here, and only here.
const OwnerTag = "platform.internal/app"

// Bucket is the desired state of one bucket.
type Bucket struct {
	Name string
	// Owner is the app's namespace/name/uid, recorded in OwnersBucket
	// (and written to OwnerTag, for people).
	Owner string
	// User is the access key that owns the bucket (per-app users only);
	// LegacyUser, if set, one an earlier version gave the app.
	User, LegacyUser string
	// Public buckets grant anonymous s3:GetObject.
	Public bool
	// Origins are the exact origins browsers may call the bucket from.
	Origins []string
	// Reserved are other tenants' bucket name prefixes
	// (naming.ReservedBucketPrefixes): a bucket that does not exist yet is
	// not created under them.
	Reserved []string
}

// EnsureBucket creates the bucket if needed and brings its owner tag, CORS
// rules and policy in line, writing only what differs. It reports whether
// anything was written.
func (s *Store) EnsureBucket(ctx context.Context, b Bucket) (changed bool, err error) {
	defer metrics.TimeCall(metrics.BackendObjectStore, "ensure_bucket")()
	exists, err := s.s3.BucketExists(ctx, b.Name)
	if err != nil {
		return false, s.wrap(err)
	}
	tag := false
	if !exists {
		if p := naming.BucketReservedBy(b.Name, b.Reserved); p != "" {
			return false, fmt.Errorf("%w: bucket %s: names starting %q are another tenant's; rename the bucket in spec.storage.buckets (or the app) so its name does not start with it",
				ErrConflict, b.Name, p)
		}
		if s.admin != nil {
			err = s.admin.createBucket(ctx, b.Name, b.User)
		} else {
			err = s.s3.MakeBucket(ctx, b.Name, minio.MakeBucketOptions{Region: s.cfg.Region})
		}
		if err != nil {
			return false, s.wrap(fmt.Errorf("creating bucket %s: %w", b.Name, err))
		}
		changed, tag = true, true
		if err := s.record(ctx, b.Name, b.Owner); err != nil {
			return false, err
		}
	} else {
		recorded, ok, err := s.recordedOwner(ctx, b.Name)
		if err != nil {
			return false, err
		}
		switch {
		case ok && recorded == b.Owner:
		case ok:
			return false, conflict(b.Name, recorded, b.Owner)
		default:
			adopt, err := s.adoptable(ctx, b)
			if err != nil {
				return false, err
			}
			if !adopt {
				// Someone else's, or not provably this app's: never adopt data.
				owner, _ := s.ownerOf(ctx, b.Name)
				return false, fmt.Errorf("%w: bucket %s has no ownership record and is not this app's (tagged %s=%q); rename the bucket in spec.storage.buckets or remove the other one",
					ErrConflict, b.Name, OwnerTag, owner)
			}
			if err := s.record(ctx, b.Name, b.Owner); err != nil {
				return false, err
			}
			changed, tag = true, true
		}
	}
	if tag {
		t, err := tags.NewTags(map[string]string{OwnerTag: b.Owner}, false)
		if err != nil {
			return false, err
		}
		if err := s.s3.SetBucketTagging(ctx, b.Name, t); err != nil {
			return false, s.wrap(fmt.Errorf("tagging bucket %s: %w", b.Name, err))
		}
		changed = true
	}
	if s.admin != nil {
		owners, err := s.admin.bucketOwners(ctx)
		if err != nil {
			return false, s.wrap(err)
		}
		if owners[b.Name] != b.User {
			if err := s.admin.changeBucketOwner(ctx, b.Name, b.User); err != nil {
				return false, s.wrap(fmt.Errorf("giving bucket %s to %s: %w", b.Name, b.User, err))
			}
			changed = true
		}
	}
	c, err := s.ensureCORS(ctx, b)
	if err != nil {
		return false, err
	}
	p, err := s.ensurePolicy(ctx, b)
	if err != nil {
		return false, err
	}
	return changed || c || p, nil
}

// adoptable reports whether a bucket without a record is b's: made by an
// earlier version (tagged namespace/name, or namespace/name/uid) or by
// this one before it could write the record (untagged), and — what the
// app cannot forge — owned at the store by b's own per-app user. Only this
// operator creates buckets owned by an app's user, and a user's name is
// unique to its app; a bucket kept by the Retain policy belongs to the
// admin account, so a new app of the same name does not adopt it. Without
// per-app users the store cannot tell: an earlier version's tag is
// trusted, which is no weaker than that mode (every app has the admin keys).
func (s *Store) adoptable(ctx context.Context, b Bucket) (bool, error) {
	tag, err := s.ownerOf(ctx, b.Name)
	if err != nil {
		return false, err
	}
	if tag != "" && tag != b.Owner && tag != legacyOwner(b.Owner) {
		return false, nil
	}
	if s.admin == nil {
		return tag != "", nil
	}
	if b.User == "" {
		return false, nil
	}
	owners, err := s.admin.bucketOwners(ctx)
	if err != nil {
		return false, s.wrap(err)
	}
	by := owners[b.Name]
	return by == b.User || (b.LegacyUser != "" && by == b.LegacyUser), nil
}

// ownerOf reads a bucket's owner tag; "" when it has none.
func (s *Store) ownerOf(ctx context.Context, bucket string) (string, error) {
	t, err := s.s3.GetBucketTagging(ctx, bucket)
	if err != nil {
		if isCode(err, "NoSuchTagSet") {
			return "", nil
		}
		return "", s.wrap(fmt.Errorf("reading tags of bucket %s: %w", bucket, err))
	}
	return t.ToMap()[OwnerTag], nil
}

func (s *Store) ensureCORS(ctx context.Context, b Bucket) (bool, error) {
	have, err := s.s3.GetBucketCors(ctx, b.Name)
	if err != nil && !isCode(err, "NoSuchCORSConfiguration") {
		return false, s.wrap(fmt.Errorf("reading CORS of bucket %s: %w", b.Name, err))
	}
	if len(b.Origins) == 0 {
		// No browser origin is allowed: no CORS rules at all.
		if have == nil || len(have.CORSRules) == 0 {
			return false, nil
		}
		if err := s.s3.SetBucketCors(ctx, b.Name, nil); err != nil {
			return false, s.wrap(fmt.Errorf("removing CORS of bucket %s: %w", b.Name, err))
		}
		return true, nil
	}
	want := corsConfig(b.Origins)
	if have != nil && reflect.DeepEqual(have.CORSRules, want.CORSRules) {
		return false, nil
	}
	if err := s.s3.SetBucketCors(ctx, b.Name, want); err != nil {
		return false, s.wrap(fmt.Errorf("setting CORS of bucket %s: %w", b.Name, err))
	}
	return true, nil
}

// corsConfig allows browsers on exactly the given origins, never "*".
func corsConfig(origins []string) *cors.Config {
	origins = slices.Clone(origins)
	slices.Sort(origins)
	origins = slices.Compact(origins)
	return cors.NewConfig([]cors.Rule{{
		ID:            "plattr",
		AllowedOrigin: origins,
		AllowedMethod: []string{"DELETE", "GET", "HEAD", "POST", "PUT"},
		AllowedHeader: []string{"*"},
		ExposeHeader:  []string{"ETag"},
		MaxAgeSeconds: 3600,
	}})
}

// policy is an S3 bucket policy document.
type policy struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Sid       string    `json:"Sid"`
	Effect    string    `json:"Effect"`
	Principal principal `json:"Principal"`
	Action    []string  `json:"Action"`
	Resource  []string  `json:"Resource"`
}

type principal struct {
	AWS []string `json:"AWS"`
}

// publicPolicy lets anyone read objects. A bucket policy replaces the
// owner's ACL rights on some stores (versitygw), so the owner is granted
// everything explicitly.
func publicPolicy(bucket, owner string) policy {
	p := policy{Version: "2012-10-17", Statement: []statement{{
		Sid: "PublicRead", Effect: "Allow", Principal: principal{AWS: []string{"*"}},
		Action: []string{"s3:GetObject"}, Resource: []string{"arn:aws:s3:::" + bucket + "/*"},
	}}}
	if owner != "" {
		p.Statement = append(p.Statement, statement{
			Sid: "Owner", Effect: "Allow", Principal: principal{AWS: []string{owner}},
			Action: []string{"s3:*"}, Resource: []string{"arn:aws:s3:::" + bucket, "arn:aws:s3:::" + bucket + "/*"},
		})
	}
	return p
}

func (s *Store) ensurePolicy(ctx context.Context, b Bucket) (bool, error) {
	have, err := s.s3.GetBucketPolicy(ctx, b.Name)
	if err != nil && !isCode(err, "NoSuchBucketPolicy") {
		return false, s.wrap(fmt.Errorf("reading the policy of bucket %s: %w", b.Name, err))
	}
	if !b.Public {
		if strings.TrimSpace(have) == "" {
			return false, nil
		}
		// Turning private removes anonymous access at once.
		if err := s.s3.SetBucketPolicy(ctx, b.Name, ""); err != nil {
			return false, s.wrap(fmt.Errorf("removing the policy of bucket %s: %w", b.Name, err))
		}
		return true, nil
	}
	want := publicPolicy(b.Name, b.User)
	var current policy
	if have != "" && json.Unmarshal([]byte(have), &current) == nil && reflect.DeepEqual(current, want) {
		return false, nil
	}
	doc, err := json.Marshal(want)
	if err != nil {
		return false, err
	}
	if err := s.s3.SetBucketPolicy(ctx, b.Name, string(doc)); err != nil {
		return false, s.wrap(fmt.Errorf("setting the public-read policy of bucket %s: %w", b.Name, err))
	}
	return true, nil
}

// Owned lists the buckets whose name starts with prefix and whose record
// names owner.
func (s *Store) Owned(ctx context.Context, prefix, owner string) ([]string, error) {
	defer metrics.TimeCall(metrics.BackendObjectStore, "owned")()
	if err := s.ensureOwnersBucket(ctx); err != nil {
		return nil, err
	}
	var out []string
	for obj := range s.s3.ListObjects(ctx, OwnersBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, s.wrap(fmt.Errorf("listing the ownership records: %w", obj.Err))
		}
		o, ok, err := s.recordedOwner(ctx, obj.Key)
		if err != nil {
			return nil, err
		}
		if ok && o == owner {
			out = append(out, obj.Key)
		}
	}
	return out, nil
}

// Release keeps a bucket and its data but hands it to the platform's admin
// account, for when the app's user goes away under the Retain policy.
func (s *Store) Release(ctx context.Context, bucket string) error {
	defer metrics.TimeCall(metrics.BackendObjectStore, "release")()
	if s.admin == nil {
		return nil
	}
	return s.wrap(s.admin.changeBucketOwner(ctx, bucket, s.cfg.AccessKey))
}

// RemoveBucket deletes every object version and delete marker, page by
// page, then the bucket and its ownership record. It returns how many
// entries it removed. A bucket already gone is fine.
func (s *Store) RemoveBucket(ctx context.Context, bucket string) (int, error) {
	defer metrics.TimeCall(metrics.BackendObjectStore, "remove_bucket")()
	exists, err := s.s3.BucketExists(ctx, bucket)
	if err != nil {
		return 0, s.wrap(err)
	}
	if !exists {
		return 0, s.forget(ctx, bucket)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objects := make(chan minio.ObjectInfo)
	var listErr error
	removed := 0
	go func() {
		defer close(objects)
		// ListObjects pages through ListObjectVersions until the end.
		for obj := range s.s3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
			if obj.Err != nil {
				listErr = obj.Err
				return
			}
			select {
			case objects <- obj:
				removed++
			case <-ctx.Done():
				return
			}
		}
	}()
	var errs []error
	for rerr := range s.s3.RemoveObjects(ctx, bucket, objects, minio.RemoveObjectsOptions{}) {
		errs = append(errs, fmt.Errorf("%s: %w", rerr.ObjectName, rerr.Err))
		if len(errs) >= 10 {
			cancel()
			break
		}
	}
	for range objects { // drain after an early stop
	}
	if listErr != nil {
		errs = append(errs, listErr)
	}
	if len(errs) > 0 {
		return removed, s.wrap(fmt.Errorf("emptying bucket %s: %w", bucket, errors.Join(errs...)))
	}
	if err := s.s3.RemoveBucket(ctx, bucket); err != nil {
		return removed, s.wrap(fmt.Errorf("deleting bucket %s: %w", bucket, err))
	}
	return removed, s.forget(ctx, bucket)
}

// isCode reports whether err is an S3 error response with one of codes.
func isCode(err error, codes ...string) bool {
	return slices.Contains(codes, minio.ToErrorResponse(err).Code)
}
