package preview

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/namespace"
	"github.com/plattr/plattr/internal/naming"
)

// Preview namespaces get a small quota: one app at scaling 1–2 with its
// PostgREST sidecar, and room for a rollout.
var previewQuota = corev1.ResourceList{
	corev1.ResourceRequestsCPU:    resource.MustParse("1"),
	corev1.ResourceRequestsMemory: resource.MustParse("1Gi"),
	corev1.ResourceLimitsCPU:      resource.MustParse("4"),
	corev1.ResourceLimitsMemory:   resource.MustParse("3Gi"),
	corev1.ResourcePods:           resource.MustParse("6"),
}

// names are the preview's generated names; tenant is its parent's
// tenant ("" in a shared namespace).
func names(pe *platformv1.PreviewEnvironment, tenant string) naming.Preview {
	return naming.Preview{App: pe.Spec.ApplicationRef, PR: pe.Spec.PullRequest, Tenant: tenant}
}

// owner is the value of the namespace's ownership annotation.
func owner(pe *platformv1.PreviewEnvironment) string {
	return pe.Namespace + "/" + pe.Name + "/" + string(pe.UID)
}

// childLabels go on the namespace and every object in it; they lead a
// watch event back to the preview.
func childLabels(pe *platformv1.PreviewEnvironment) map[string]string {
	return map[string]string{
		platformv1.LabelName:             naming.DNSLabel(pe.Spec.ApplicationRef),
		platformv1.LabelManagedBy:        platformv1.ManagedByValue,
		platformv1.LabelApp:              pe.Spec.ApplicationRef,
		platformv1.LabelEnvironment:      string(platformv1.EnvironmentPreview),
		platformv1.LabelType:             platformv1.TypePreview,
		platformv1.LabelPR:               strconv.Itoa(int(pe.Spec.PullRequest)),
		platformv1.LabelPreview:          pe.Name,
		platformv1.LabelPreviewNamespace: pe.Namespace,
	}
}

// reconcileNamespace ensures the preview's own namespace — made by Plattr
// for this very preview, never one that someone else made — with its
// quota, limits and a default NetworkPolicy. It reports whether the
// capabilities can go on.
func (r *Reconciler) reconcileNamespace(ctx context.Context, s *scope) bool {
	pe := s.pe
	name := s.names.Namespace()
	fail := func(reason, msg string, err error) bool {
		capability.SetCondition(pe, platformv1.ConditionNamespaceReady, metav1.ConditionFalse, reason, msg)
		s.Fail(err)
		return false
	}
	ns := &corev1.Namespace{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, ns)
	switch {
	case apierrors.IsNotFound(err):
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: name, Labels: childLabels(pe), Annotations: map[string]string{platformv1.AnnotationPreviewOwner: owner(pe)},
		}}
		if err := r.Create(ctx, ns); err != nil {
			return fail(platformv1.ReasonApplyFailed, fmt.Sprintf("creating namespace %s: %v", name, err), err)
		}
	case err != nil:
		return fail(platformv1.ReasonAPIError, fmt.Sprintf("reading namespace %s: %v", name, err), err)
	case ns.Annotations[platformv1.AnnotationPreviewOwner] != owner(pe):
		if !ns.DeletionTimestamp.IsZero() && ns.Labels[platformv1.LabelManagedBy] == platformv1.ManagedByValue {
			// An earlier preview of this PR is still going away.
			return fail(platformv1.ReasonNamespaceTerminating,
				fmt.Sprintf("namespace %s of an earlier preview of PR %d is still being deleted; the preview starts once it is gone", name, pe.Spec.PullRequest),
				fmt.Errorf("namespace %s is terminating", name))
		}
		return fail(platformv1.ReasonNamespaceConflict,
			fmt.Sprintf("namespace %s exists and was not made by Plattr for this preview; delete it, or preview PR %d of %s from another namespace",
				name, pe.Spec.PullRequest, pe.Spec.ApplicationRef),
			fmt.Errorf("namespace %s belongs to someone else", name))
	case !ns.DeletionTimestamp.IsZero():
		return fail(platformv1.ReasonNamespaceTerminating, fmt.Sprintf("namespace %s is being deleted", name), fmt.Errorf("namespace %s is terminating", name))
	}
	s.ns = ns

	kube := capability.Kube{Client: r.Client, APIReader: r.APIReader, Recorder: r.Recorder}
	if err := namespace.Ensure(ctx, kube, r.target(s), namespace.Guards{
		Name:             "preview",
		Quota:            previewQuota,
		DefaultRequest:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		DefaultLimit:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		IngressNamespace: r.Config.IngressNamespace,
		Network: namespace.Network{APINamespace: r.Config.PlatformAPINamespace, APIPodLabels: r.Config.PlatformAPIPodLabels,
			EgressDenyCIDRs: r.Config.EgressDenyCIDRs},
	}); err != nil {
		return fail(platformv1.ReasonApplyFailed, fmt.Sprintf("namespace %s: %v", name, err), err)
	}
	capability.SetCondition(pe, platformv1.ConditionNamespaceReady, metav1.ConditionTrue, platformv1.ReasonProvisioned,
		fmt.Sprintf("namespace %s with its quota, limits and network policy", name))
	return true
}
