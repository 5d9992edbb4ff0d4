package application_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// The reproduction, end to end: the parent's developer, with the
// app's own credentials, puts a function that records who runs it (and,
// run by a superuser, makes the app's role superuser) into a CHECK
// constraint, then asks for a preview with the parent's data. The copy
// must not run it as the operator's admin: the preview's role may not run
// it either, so the copy is refused, naming the table and the constraint,
// and goes through once the parent drops the constraint.
func TestAPreviewCopyNeverRunsTheParentsCodeAsTheAdmin(t *testing.T) {
	t.Parallel()
	startOperator(t)
	ns := newNamespace(t)
	ctx := context.Background()
	create(t, newApp(ns, "cpatk"))
	waitSettled(t, ns, "cpatk")
	parent := connect(t, string(secretData(t, ns, "cpatk-db")["DATABASE_URL"]))
	var schema, role string
	if err := parent.QueryRow(ctx, "SELECT current_schema(), current_user").Scan(&schema, &role); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"CREATE TABLE probe_log (who text)",
		`CREATE FUNCTION probe(v int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ` + schema + `.probe_log VALUES (current_user);
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE ` + role + ` SUPERUSER';
  END IF;
  RETURN true;
END $$`,
		"CREATE TABLE t (id int CONSTRAINT t_probe CHECK (probe(id)))",
		"INSERT INTO t VALUES (1)",
		"TRUNCATE probe_log",
	} {
		if _, err := parent.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	create(t, newPreview(ns, "cpatk", 1, func(p *platformv1.PreviewEnvironment) {
		p.Spec.Database = &platformv1.PreviewDatabaseSpec{CopyFrom: "parent"}
	}))
	pe := waitPreviewPhase(t, ns, "cpatk-pr-1", platformv1.PhaseFailed)
	c := meta.FindStatusCondition(pe.Status.Conditions, platformv1.ConditionDataCopied)
	if c == nil || c.Reason != platformv1.ReasonCopyRefused || !strings.Contains(c.Message, `table "t"`) || !strings.Contains(c.Message, `"t_probe"`) {
		t.Errorf("DataCopied %+v, want CopyRefused naming table t and constraint t_probe", c)
	}
	var ran int
	var super bool
	if err := parent.QueryRow(ctx, "SELECT count(*) FROM probe_log").Scan(&ran); err != nil || ran != 0 {
		t.Errorf("the parent's function ran %d time(s) during the copy (%v)", ran, err)
	}
	if err := parent.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || super {
		t.Fatalf("the parent's role is superuser after the copy (%v)", err)
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "preview-cpatk-pr-1", Name: "cpatk"}, &appsv1.Deployment{}); err == nil {
		t.Error("the refused preview's workload runs anyway")
	}

	// The parent drops the constraint: the retried copy goes through.
	if _, err := parent.Exec(ctx, "ALTER TABLE t DROP CONSTRAINT t_probe"); err != nil {
		t.Fatal(err)
	}
	pe = waitPreviewPhase(t, ns, "cpatk-pr-1", platformv1.PhaseRunning)
	if c := meta.FindStatusCondition(pe.Status.Conditions, platformv1.ConditionDataCopied); c == nil || c.Reason != platformv1.ReasonCopied {
		t.Errorf("DataCopied %+v after the fix, want Copied", c)
	}
	preview := connect(t, string(secretData(t, "preview-cpatk-pr-1", "cpatk-db")["DATABASE_URL"]))
	var n int
	if err := preview.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Errorf("the preview has %d row(s) in t (%v), want 1", n, err)
	}
	deleteApp(t, ns, "cpatk")
	previewGone(t, ns, "cpatk-pr-1", "cpatk", 1)
}
