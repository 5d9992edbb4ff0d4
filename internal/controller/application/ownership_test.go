package application_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/objectstore"
)

// Issue 17, defect 7: after an app deleted with Retain, a new Application
// of the same namespace and name — a new UID — got the kept schema and
// buckets. Now it waits in a conflict until a platform admin hands the
// data over as docs/OPERATOR.md says, and then gets it.
func TestARecreatedAppGetsRetainedDataOnlyWhenHandedOver(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	ctx := context.Background()
	retained := func(a *platformv1.Application) {
		a.Spec.Database = &platformv1.DatabaseSpec{Enabled: true, DeletionPolicy: platformv1.DeletionPolicyRetain}
		a.Spec.Storage = &platformv1.StorageSpec{Enabled: true, Buckets: []platformv1.BucketSpec{{Name: "files"}}}
	}
	create(t, newApp(ns, "reborn", retained))
	first := waitPhase(t, ns, "reborn", platformv1.PhaseRunning, runningTimeout)
	db := connect(t, string(secretData(t, ns, "reborn-db")["DATABASE_URL"]))
	if _, err := db.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('old data')"); err != nil {
		t.Fatal(err)
	}
	_ = db.Close(ctx)
	bucket := "plattr-staging-reborn-files"
	if err := putObject(s3As(t, ns, "reborn"), bucket, "old.txt"); err != nil {
		t.Fatal(err)
	}

	if err := k8s.Delete(ctx, getApp(t, ns, "reborn")); err != nil {
		t.Fatal(err)
	}
	eventually(t, runningTimeout, "the app to be deleted", func() error {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "reborn"}, &platformv1.Application{}); isNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there")
	})

	create(t, newApp(ns, "reborn", retained))
	eventually(t, runningTimeout, "conflicts over the kept data", func() error {
		app := getApp(t, ns, "reborn")
		if app.UID == first.UID {
			t.Fatal("the new Application has the old UID")
		}
		d, s := condition(app, platformv1.ConditionDatabaseReady), condition(app, platformv1.ConditionStorageReady)
		if d.Reason != platformv1.ReasonSchemaConflict || !strings.Contains(d.Message, "kept from an earlier Application") ||
			s.Reason != platformv1.ReasonBucketConflict || !strings.Contains(s.Message, "kept from an earlier Application") {
			return fmt.Errorf("DatabaseReady %s: %s; StorageReady %s: %s", d.Reason, d.Message, s.Reason, s.Message)
		}
		return nil
	})

	// The handover, as docs/OPERATOR.md says.
	app := getApp(t, ns, "reborn")
	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "UPDATE plattr_operator.owners SET namespace = $1, app = $2, uid = $3 WHERE namespace = $1 AND app = $2",
		ns, "reborn", string(app.UID)); err != nil {
		t.Fatal(err)
	}
	record := ns + "/reborn/" + string(app.UID)
	if _, err := s3As(t, "", "").PutObject(ctx, objectstore.OwnersBucket, bucket, strings.NewReader(record), int64(len(record)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	// Any change reconciles at once (else the backoff does, within minutes).
	touch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"example.com/touch":"1"}}}`))
	if err := k8s.Patch(ctx, app, touch); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "reborn", platformv1.PhaseRunning, runningTimeout)
	db = connect(t, string(secretData(t, ns, "reborn-db")["DATABASE_URL"]))
	defer db.Close(ctx)
	var v string
	if err := db.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "old data" {
		t.Fatalf("the handed-over schema: %q %v", v, err)
	}
	if _, err := s3As(t, ns, "reborn").StatObject(ctx, bucket, "old.txt", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the handed-over bucket: %v", err)
	}
}
