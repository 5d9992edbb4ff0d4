package preview

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	capdatabase "github.com/plattr/plattr/internal/capability/database"
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

func copyRequested(pe *platformv1.PreviewEnvironment) bool {
	return pe.Spec.Database != nil && pe.Spec.Database.CopyFrom == "parent"
}

// copyParentData copies the parent's tables into the preview's new schema,
// once: DataCopied=True records it, and a schema that already has tables
// is never copied into. A copy the platform does not allow — a production
// parent without PREVIEW_COPY_FROM_PRODUCTION, a schema over
// PREVIEW_COPY_MAX_SIZE — fails the preview at once, saying which setting
// allows it; so does a parent schema the copy cannot bring over (a
// constraint calling a function the preview's role may not run), saying
// which table and constraint. The copy writes as the preview's own role,
// logged in with the password of the database capability's Secret
// (sources).
func (r *Reconciler) copyParentData(ctx context.Context, s *scope, sources []capability.Source) error {
	pe, parent := s.pe, s.parent
	if c := capability.Condition(pe, platformv1.ConditionDataCopied); c != nil && c.Status == metav1.ConditionTrue {
		return nil
	}
	refuse := func(msg string) error {
		capability.SetCondition(pe, platformv1.ConditionDataCopied, metav1.ConditionFalse, platformv1.ReasonCopyRefused, msg)
		return capability.Terminal(errors.New(msg))
	}
	if parent.Spec.Environment == platformv1.EnvironmentProduction && !r.Config.PreviewCopyFromProduction {
		return refuse(fmt.Sprintf("spec.database.copyFrom: %s is a production app and this platform does not copy production data into previews; "+
			"remove spec.database from the preview, or ask the platform team to set PREVIEW_COPY_FROM_PRODUCTION=true", parent.Name))
	}
	if !parent.Spec.DatabaseEnabled() {
		return refuse(fmt.Sprintf("spec.database.copyFrom: %s has no database to copy; remove spec.database from the preview", parent.Name))
	}
	// The parent lives in the preview's namespace: the same tenant.
	from, to := naming.For(parent, s.names.Tenant).Database(), s.names.Database()
	var password string
	for _, src := range sources {
		if p := src.Data[platformv1.KeyDBPassword]; src.From == capdatabase.Name && len(p) > 0 {
			password = string(p)
		}
	}
	if password == "" {
		return errors.New("the preview's database credentials are not known yet")
	}
	res, err := r.Caps.Database.Copy(ctx, from, to, password, r.Config.PreviewCopyMaxSize)
	switch {
	case errors.Is(err, database.ErrCopyUnsupported):
		return refuse(fmt.Sprintf("spec.database.copyFrom: schema %s %v; the copy brings tables, their enum and domain types and sequences, "+
			"not functions, views, triggers or policies, and writes as the preview's role, which may not use the parent's schema: "+
			"change that in %s's schema (the copy is tried again, with backoff), or remove spec.database from the preview", from.Schema, err, parent.Name))
	case errors.Is(err, database.ErrCopyTooLarge):
		return refuse(fmt.Sprintf("spec.database.copyFrom: %v; remove spec.database from the preview, or ask the platform team to raise PREVIEW_COPY_MAX_SIZE", err))
	case errors.Is(err, database.ErrCopyTargetNotEmpty):
		capability.SetCondition(pe, platformv1.ConditionDataCopied, metav1.ConditionTrue, platformv1.ReasonCopied,
			fmt.Sprintf("schema %s had tables already (copied before); nothing copied again", to.Schema))
		return nil
	case err != nil:
		capability.SetCondition(pe, platformv1.ConditionDataCopied, metav1.ConditionFalse, platformv1.ReasonCopyFailed,
			fmt.Sprintf("copying schema %s into %s: %v; retrying (the workload waits for the data)", from.Schema, to.Schema, err))
		return capability.Unavailable(capability.BackendDatabase, err)
	}
	capability.SetCondition(pe, platformv1.ConditionDataCopied, metav1.ConditionTrue, platformv1.ReasonCopied,
		fmt.Sprintf("%d table(s), %d row(s) (%d bytes on disk) copied from schema %s", res.Tables, res.Rows, res.Bytes, from.Schema))
	return nil
}
