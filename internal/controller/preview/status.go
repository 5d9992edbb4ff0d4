package preview

import (
	"slices"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/controller/kit"
)

// conditions Ready is derived from, in order.
var conditions = []string{
	platformv1.ConditionNamespaceReady,
	platformv1.ConditionDatabaseReady, platformv1.ConditionStorageReady, platformv1.ConditionAuthReady,
	platformv1.ConditionMessagingReady, platformv1.ConditionDeploymentReady, platformv1.ConditionIngressReady,
}

// settleInterval re-checks a preview waiting on something not watched.
const settleInterval = 15 * time.Second

// finish derives the status with the kit's rules (kit.Finish), plus the
// preview's URL. Without a parent (or a valid ttl) Ready was set where
// that was found.
func (r *Reconciler) finish(s *scope) (ctrl.Result, error) {
	pe := s.pe
	pe.Status.URL = ""
	if s.WorkloadUp {
		pe.Status.URL = "https://" + s.names.Host(r.Config.BaseDomain)
	}
	types := conditions
	if copyRequested(pe) {
		types = slices.Insert(slices.Clone(conditions), 2, platformv1.ConditionDataCopied) // after DatabaseReady
	}
	v := kit.Verdict{KeepReady: s.parent == nil, Ready: "the preview runs at " + pe.Status.URL, Settle: settleInterval}
	if s.parent != nil {
		v.NotReady = kit.FirstNotReady(pe, types...)
	}
	return r.kit.Finish(s.Run, v)
}
