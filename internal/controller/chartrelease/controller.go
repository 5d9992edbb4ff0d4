// Package chartrelease reconciles ChartReleases: the chart version a
// release asks for, its inputs checked against the version's values UI
// schema, the values assembled as Platz does (UI outputs, a platz block,
// the injected ingress, the raw override), Secret outputs that never
// overwrite a Secret the release does not own — then Helm, in-process,
// as the namespace's plattr-release ServiceAccount: install, upgrade only
// when the chart digest or the values digest changes, rollback,
// uninstall, a pending-* release unlocked first. controller-runtime never
// reconciles one release twice at once, so operations on a release are
// serialized.
package chartrelease

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/charts/discovery"
	"github.com/plattr/plattr/internal/charts/ext"
	"github.com/plattr/plattr/internal/charts/helmrun"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/chartsource"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/naming"
)

// Helm release labels holding what the revision was made from.
const (
	labelChartDigest  = "plattr.chart-digest"
	labelValuesDigest = "plattr.values-digest"
	historyMax        = 10
)

// Reconciler reconciles ChartReleases.
type Reconciler struct {
	kit.Deps
	Helm *helmrun.Runner
	// Transport reaches the registries; nil is the default.
	Transport http.RoundTripper

	kit    *kit.Kit[*platformv1.ChartRelease]
	mu     sync.Mutex
	charts map[string][]byte // chart digest → archive, a few kept
}

// +kubebuilder:rbac:groups=platform.internal,resources=chartreleases,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=chartreleases/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=chartreleases/finalizers,verbs=update
// +kubebuilder:rbac:groups=platform.internal,resources=chartversions;chartsources,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=impersonate,resourceNames=plattr-release
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=edit

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	r.kit = kit.New("chartrelease", r.Deps, func() *platformv1.ChartRelease { return &platformv1.ChartRelease{} })
	r.charts = map[string][]byte{}
	return ctrl.NewControllerManagedBy(mgr).
		For(&platformv1.ChartRelease{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// A new chart version brings back the releases of its repository
		// (those following the newest, or waiting for theirs).
		Watches(&platformv1.ChartVersion{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []ctrl.Request {
			cv := o.(*platformv1.ChartVersion)
			list := &platformv1.ChartReleaseList{}
			if err := r.List(ctx, list); err != nil {
				return nil
			}
			var out []ctrl.Request
			for _, rel := range list.Items {
				if rel.Spec.Chart.Source == cv.Spec.Source && rel.Spec.Chart.Repository == cv.Spec.Repository {
					out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&rel)})
				}
			}
			return out
		}), builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }, DeleteFunc: func(event.DeleteEvent) bool { return false }})).
		WithOptions(controller.Options{SkipNameValidation: &skipNameValidation, MaxConcurrentReconciles: 2}).
		Named("chartrelease").
		Complete(r)
}

// failure is what stops a reconcile: the condition it sets and whether
// retrying the same spec can help.
type failure struct {
	cond, reason string
	err          error
	terminal     bool
	waiting      bool
}

func (f *failure) Error() string { return f.err.Error() }

func fail(cond, reason string, terminal bool, format string, args ...any) *failure {
	return &failure{cond: cond, reason: reason, terminal: terminal, err: fmt.Errorf(format, args...)}
}

// Reconcile brings one release in line with its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rel := &platformv1.ChartRelease{}
	if err := r.Get(ctx, req.NamespacedName, rel); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	run := kit.Begin(rel)
	if !rel.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, run)
	}
	if err := r.kit.EnsureMetadata(ctx, run, kit.AddFinalizers[*platformv1.ChartRelease]([]string{platformv1.FinalizerChartRelease})); err != nil {
		return ctrl.Result{}, err
	}
	if f := r.release(ctx, rel); f != nil {
		capability.SetCondition(rel, f.cond, metav1.ConditionFalse, f.reason, f.err.Error())
		switch {
		case f.waiting:
			run.Waiting = true
		case f.terminal:
			run.Fail(capability.Terminal(f.err))
		default:
			run.Fail(f.err)
		}
	}
	nr := kit.FirstNotReady(rel, platformv1.ConditionInputsValid, platformv1.ConditionReleased)
	v := kit.Verdict{NotReady: nr, Ready: fmt.Sprintf("revision %d of %s deployed", rel.Status.Revision, rel.Spec.Chart.Repository), Resync: 10 * time.Minute, Settle: 10 * time.Second}
	if !rel.IsEnabled() {
		v.Ready = "disabled: the Helm release is uninstalled"
	}
	result, err := r.kit.Finish(run, v)
	return result, errors.Join(err, r.kit.Patch(ctx, run))
}

// release does the work; nil when the release is where the spec wants it.
func (r *Reconciler) release(ctx context.Context, rel *platformv1.ChartRelease) *failure {
	src, cv, f := r.resolve(ctx, rel)
	if f != nil {
		return f
	}
	target, f := r.target(ctx, rel, src)
	if f != nil {
		return f
	}
	if !rel.IsEnabled() {
		if err := r.Helm.Uninstall(target); err != nil {
			return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "uninstalling: %v", err)
		}
		rel.Status.History, rel.Status.Revision, rel.Status.ChartDigest, rel.Status.ValuesDigest = nil, 0, "", ""
		capability.SetCondition(rel, platformv1.ConditionReleased, metav1.ConditionTrue, platformv1.ReasonUninstalled, "spec.enabled is false: the Helm release is uninstalled")
		return nil
	}
	var e ext.Extensions
	if cv.Status.Extensions != nil {
		if err := json.Unmarshal(cv.Status.Extensions.Raw, &e); err != nil {
			return fail(platformv1.ConditionInputsValid, platformv1.ReasonChartInvalid, true, "ChartVersion %s: extensions unreadable: %v", cv.Name, err)
		}
	}
	inputs, f := r.inputs(ctx, rel, &e)
	if f != nil {
		return f
	}
	capability.SetCondition(rel, platformv1.ConditionInputsValid, metav1.ConditionTrue, platformv1.ReasonProvisioned, "the inputs fit the chart's values UI schema")
	if f := r.cardinality(ctx, rel, &e); f != nil {
		return f
	}
	archive, err := r.pull(ctx, src, cv)
	if err != nil {
		return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "pulling %s %s: %v", cv.Spec.Repository, cv.Spec.Version, err)
	}
	ch, err := helmrun.LoadChart(archive)
	if err != nil {
		return fail(platformv1.ConditionReleased, platformv1.ReasonChartInvalid, true, "loading the chart: %v", err)
	}
	values, secrets, f := r.values(rel, cv, &e, inputs, ch.Values)
	if f != nil {
		return f
	}
	if f := r.ensureSecrets(ctx, rel, secrets); f != nil {
		return f
	}
	raw, _ := json.Marshal(values)
	sum := sha256.Sum256(raw)
	valuesDigest := "sha256:" + hex.EncodeToString(sum[:])
	labels := map[string]string{labelChartDigest: short(cv.Spec.Digest), labelValuesDigest: short(valuesDigest)}

	last, err := r.Helm.Last(target)
	if err != nil {
		return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "reading the Helm release: %v", err)
	}
	if last != nil && last.Info.Status.IsPending() {
		// Left by an operation that never finished (the operator died).
		stale := last.Info.Status
		if err := r.Helm.Unlock(target, last); err != nil {
			return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "unlocking revision %d (%s): %v", last.Version, stale, err)
		}
		capability.SetCondition(rel, platformv1.ConditionRemediated, metav1.ConditionTrue, platformv1.ReasonUnlocked,
			fmt.Sprintf("revision %d was left %s by an interrupted operation and was unlocked", last.Version, stale))
		r.Recorder.Eventf(rel, nil, corev1.EventTypeWarning, platformv1.ReasonUnlocked, "Unlock", "revision %d was left %s; unlocked", last.Version, stale)
	} else if capability.Condition(rel, platformv1.ConditionRemediated) == nil {
		capability.SetCondition(rel, platformv1.ConditionRemediated, metav1.ConditionFalse, platformv1.ReasonNothingToRemediate, "no interrupted or failed operation to undo")
	}

	op := platformv1.ReasonUpToDate
	stop := r.kit.Time("helm")
	switch {
	case last == nil || last.Info.Status == rcommon.StatusUninstalled:
		op = platformv1.ReasonInstalled
		_, err = r.Helm.Install(ctx, target, ch, values, labels)
	case last.Version == 1 && last.Info.Status == rcommon.StatusFailed:
		// A failed first install has nothing to upgrade from: again.
		op = platformv1.ReasonInstalled
		if err = r.Helm.Uninstall(target); err == nil {
			_, err = r.Helm.Install(ctx, target, ch, values, labels)
		}
	case rel.Spec.RollbackTo != nil:
		want := fmt.Sprintf("Rollback to %d", *rel.Spec.RollbackTo)
		if last.Info.Description != want {
			op = platformv1.ReasonRolledBack
			err = r.Helm.Rollback(target, int(*rel.Spec.RollbackTo))
		}
	case last.Info.Status == rcommon.StatusDeployed && last.Labels[labelChartDigest] == labels[labelChartDigest] && last.Labels[labelValuesDigest] == labels[labelValuesDigest]:
	default:
		op = platformv1.ReasonUpgraded
		_, err = r.Helm.Upgrade(ctx, target, ch, values, labels)
	}
	stop()
	if err != nil {
		var refused *helmrun.RefusedError
		if errors.As(err, &refused) {
			return fail(platformv1.ConditionReleased, platformv1.ReasonObjectRefused, true, "%v", refused)
		}
		_ = r.history(rel, target)
		return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "%s: %v", strings.ToLower(op), err)
	}
	if err := r.history(rel, target); err != nil {
		return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "reading the history: %v", err)
	}
	if op != platformv1.ReasonUpToDate {
		r.Recorder.Eventf(rel, nil, corev1.EventTypeNormal, op, "Helm", "%s: revision %d of %s %s", op, rel.Status.Revision, cv.Spec.Chart, cv.Spec.Version)
	}
	rel.Status.ChartVersion, rel.Status.ChartDigest = cv.Name, cv.Spec.Digest
	if rel.Spec.RollbackTo == nil {
		rel.Status.ValuesDigest = valuesDigest
	}
	// Nothing to do keeps what the last operation said (a no-op writes
	// nothing).
	if c := capability.Condition(rel, platformv1.ConditionReleased); op != platformv1.ReasonUpToDate || c == nil || c.Status != metav1.ConditionTrue {
		capability.SetCondition(rel, platformv1.ConditionReleased, metav1.ConditionTrue, op,
			fmt.Sprintf("revision %d: %s %s", rel.Status.Revision, cv.Spec.Chart, cv.Spec.Version))
	}
	return nil
}

func short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 40 {
		d = d[:40]
	}
	return d
}

// history writes the last revisions into the status.
func (r *Reconciler) history(rel *platformv1.ChartRelease, t helmrun.Target) error {
	revs, err := r.Helm.History(t, historyMax)
	if err != nil {
		return err
	}
	rel.Status.History = nil
	for _, h := range revs {
		rev := platformv1.ChartReleaseRevision{Revision: int32(h.Version), Status: string(h.Info.Status), Description: h.Info.Description,
			ChartDigest: "sha256:" + h.Labels[labelChartDigest], ValuesDigest: "sha256:" + h.Labels[labelValuesDigest]}
		if h.Chart != nil && h.Chart.Metadata != nil {
			rev.Chart, rev.AppVersion = h.Chart.Metadata.Name+"-"+h.Chart.Metadata.Version, h.Chart.Metadata.AppVersion
		}
		if !h.Info.FirstDeployed.IsZero() {
			t := metav1.NewTime(h.Info.FirstDeployed.Truncate(time.Second))
			rev.FirstDeployed = &t
		}
		if !h.Info.LastDeployed.IsZero() {
			t := metav1.NewTime(h.Info.LastDeployed.Truncate(time.Second))
			rev.LastDeployed = &t
		}
		rel.Status.History = append(rel.Status.History, rev)
	}
	rel.Status.Revision = 0
	for _, h := range rel.Status.History {
		if h.Status == string(rcommon.StatusDeployed) {
			rel.Status.Revision = h.Revision
			break
		}
	}
	return nil
}

// resolve finds the ChartSource and the ChartVersion spec.chart names.
func (r *Reconciler) resolve(ctx context.Context, rel *platformv1.ChartRelease) (*platformv1.ChartSource, *platformv1.ChartVersion, *failure) {
	ref := rel.Spec.Chart
	src := &platformv1.ChartSource{}
	if err := r.Get(ctx, client.ObjectKey{Name: ref.Source}, src); apierrors.IsNotFound(err) {
		f := fail(platformv1.ConditionReleased, platformv1.ReasonChartNotFound, false, "spec.chart.source: there is no ChartSource %s", ref.Source)
		f.waiting = true
		return nil, nil, f
	} else if err != nil {
		return nil, nil, fail(platformv1.ConditionReleased, platformv1.ReasonChartNotFound, false, "%v", err)
	}
	list := &platformv1.ChartVersionList{}
	if err := r.List(ctx, list, client.MatchingLabels{platformv1.LabelChartSource: ref.Source, platformv1.LabelChartRepository: chartsource.RepositoryLabel(ref.Repository)}); err != nil {
		return nil, nil, fail(platformv1.ConditionReleased, platformv1.ReasonChartNotFound, false, "%v", err)
	}
	var best *platformv1.ChartVersion
	var bestV *semver.Version
	for i := range list.Items {
		cv := &list.Items[i]
		if cv.Spec.Repository != ref.Repository || (ref.Version != "" && cv.Spec.Version != ref.Version) || (ref.Digest != "" && cv.Spec.Digest != ref.Digest) {
			continue
		}
		v, err := semver.NewVersion(cv.Spec.Version)
		if err != nil {
			continue
		}
		// The newest version; of one version pushed twice, the newest push.
		if best == nil || v.GreaterThan(bestV) || (v.Equal(bestV) && cv.CreationTimestamp.After(best.CreationTimestamp.Time)) {
			best, bestV = cv, v
		}
	}
	if best == nil {
		what := ref.Repository
		if ref.Version != "" {
			what += " " + ref.Version
		}
		f := fail(platformv1.ConditionReleased, platformv1.ReasonChartNotFound, false, "spec.chart: ChartSource %s has no chart %s (yet): push it, or see `plattr chart list`", ref.Source, what)
		f.waiting = true
		return nil, nil, f
	}
	if best.Status.Error != "" {
		return nil, nil, fail(platformv1.ConditionReleased, platformv1.ReasonChartInvalid, true, "%s %s cannot be installed: %s", best.Spec.Chart, best.Spec.Version, best.Status.Error)
	}
	return src, best, nil
}

// target is whom the release's Helm operations run as: the namespace's
// plattr-release ServiceAccount, or a trusted source's platform
// ServiceAccount in the namespaces its selector allows.
func (r *Reconciler) target(ctx context.Context, rel *platformv1.ChartRelease, src *platformv1.ChartSource) (helmrun.Target, *failure) {
	t := helmrun.Target{Namespace: rel.Namespace, Name: rel.Name, ServiceAccount: rel.Namespace + "/" + platformv1.ReleaseServiceAccount}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: rel.Namespace}, ns); err != nil {
		return t, fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "%v", err)
	}
	if tr := src.Spec.Trusted; tr != nil {
		sel, err := metav1.LabelSelectorAsSelector(&tr.NamespaceSelector)
		if err != nil {
			return t, fail(platformv1.ConditionReleased, platformv1.ReasonObjectRefused, true, "ChartSource %s: spec.trusted.namespaceSelector: %v", src.Name, err)
		}
		if !sel.Matches(k8slabels.Set(ns.Labels)) {
			return t, fail(platformv1.ConditionReleased, platformv1.ReasonObjectRefused, true,
				"ChartSource %s is trusted for the namespaces its spec.trusted.namespaceSelector selects, and %s is not one", src.Name, rel.Namespace)
		}
		t.ServiceAccount, t.Trusted = r.Config.PlatformNamespace+"/"+tr.ServiceAccount, true
		return t, nil
	}
	if f := r.ensureReleaseAccount(ctx, ns); f != nil {
		return t, f
	}
	return t, nil
}

// ensureReleaseAccount gives an environment's or a tenant's namespace its
// plattr-release ServiceAccount with the namespace's edit role; elsewhere
// the platform team makes it, and its absence is waited for.
func (r *Reconciler) ensureReleaseAccount(ctx context.Context, ns *corev1.Namespace) *failure {
	managed := platformv1.TenantOfNamespace(ns.Labels) != "" || slices.ContainsFunc(r.Config.EnvironmentNamespaces, func(e config.EnvironmentNamespace) bool { return e.Namespace == ns.Name })
	sa := &corev1.ServiceAccount{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: platformv1.ReleaseServiceAccount}, sa)
	if !managed {
		if apierrors.IsNotFound(err) {
			f := fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false,
				"namespace %s is neither an environment's nor a tenant's: its platform team creates the ServiceAccount %s (with the rights its releases need) for releases to run as", ns.Name, platformv1.ReleaseServiceAccount)
			f.waiting = true
			return f
		}
		if err != nil {
			return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "%v", err)
		}
		return nil
	}
	labels := map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue}
	if apierrors.IsNotFound(err) {
		sa = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: platformv1.ReleaseServiceAccount, Namespace: ns.Name, Labels: labels}}
		if err := r.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
			return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "creating ServiceAccount %s: %v", platformv1.ReleaseServiceAccount, err)
		}
	} else if err != nil {
		return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "%v", err)
	}
	rb := &rbacv1.RoleBinding{}
	err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: platformv1.ReleaseServiceAccount}, rb)
	if apierrors.IsNotFound(err) {
		rb = &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: platformv1.ReleaseServiceAccount, Namespace: ns.Name, Labels: labels},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: platformv1.ReleaseServiceAccount, Namespace: ns.Name}}}
		if err := r.Create(ctx, rb); err != nil && !apierrors.IsAlreadyExists(err) {
			return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "binding %s to edit: %v", platformv1.ReleaseServiceAccount, err)
		}
	} else if err != nil {
		return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "%v", err)
	}
	return nil
}

// inputs reads spec.inputs (Secrets for valueFrom) and checks them
// against the schema.
func (r *Reconciler) inputs(ctx context.Context, rel *platformv1.ChartRelease, e *ext.Extensions) (map[string]any, *failure) {
	out := map[string]any{}
	var errs []string
	for _, in := range rel.Spec.Inputs {
		var schemaIn *ext.Input
		if e.UISchema != nil {
			schemaIn = e.UISchema.Input(in.Name)
		}
		switch {
		case (in.Value == nil) == (in.ValueFrom == nil || in.ValueFrom.SecretKeyRef == nil):
			errs = append(errs, fmt.Sprintf("spec.inputs[%s]: set exactly one of value and valueFrom.secretKeyRef", in.Name))
		case in.Value != nil:
			if schemaIn != nil && schemaIn.Sensitive {
				errs = append(errs, fmt.Sprintf("spec.inputs[%s]: the input is sensitive: give it with valueFrom.secretKeyRef, not in the spec", in.Name))
				continue
			}
			var v any
			if err := json.Unmarshal(in.Value.Raw, &v); err != nil {
				errs = append(errs, fmt.Sprintf("spec.inputs[%s].value: %v", in.Name, err))
				continue
			}
			out[in.Name] = v
		default:
			ref := in.ValueFrom.SecretKeyRef
			s := &corev1.Secret{}
			if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: ref.Name}, s); err != nil {
				errs = append(errs, fmt.Sprintf("spec.inputs[%s].valueFrom.secretKeyRef: Secret %s: %v", in.Name, ref.Name, apierrors.ReasonForError(err)))
				continue
			}
			b, ok := s.Data[ref.Key]
			if !ok {
				errs = append(errs, fmt.Sprintf("spec.inputs[%s].valueFrom.secretKeyRef: Secret %s has no key %s", in.Name, ref.Name, ref.Key))
				continue
			}
			var v any = string(b)
			if schemaIn != nil && schemaIn.Type != ext.Text && !schemaIn.Array {
				// A number or boolean in a Secret is written as JSON.
				var decoded any
				if json.Unmarshal(b, &decoded) == nil {
					v = decoded
				}
			}
			out[in.Name] = v
		}
	}
	if e.UISchema != nil {
		if err := e.UISchema.Validate(out); err != nil {
			errs = append(errs, strings.Split(err.Error(), "\n")...)
		}
	} else if len(out) > 0 {
		errs = append(errs, "spec.inputs: the chart has no values UI schema, so it takes no inputs (use spec.values)")
	}
	if len(errs) > 0 {
		return nil, fail(platformv1.ConditionInputsValid, platformv1.ReasonInputsInvalid, true, "%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// cardinality refuses a second release of a OnePerCluster chart: the
// oldest release keeps it.
func (r *Reconciler) cardinality(ctx context.Context, rel *platformv1.ChartRelease, e *ext.Extensions) *failure {
	if e.Features == nil || e.Features.Cardinality != ext.OnePer {
		return nil
	}
	list := &platformv1.ChartReleaseList{}
	if err := r.APIReader.List(ctx, list); err != nil {
		return fail(platformv1.ConditionReleased, platformv1.ReasonCardinality, false, "%v", err)
	}
	for _, o := range list.Items {
		if o.UID == rel.UID || o.Spec.Chart.Source != rel.Spec.Chart.Source || o.Spec.Chart.Repository != rel.Spec.Chart.Repository || !o.DeletionTimestamp.IsZero() {
			continue
		}
		older := o.CreationTimestamp.Before(&rel.CreationTimestamp) ||
			(o.CreationTimestamp.Equal(&rel.CreationTimestamp) && o.Namespace+"/"+o.Name < rel.Namespace+"/"+rel.Name)
		if older {
			return fail(platformv1.ConditionReleased, platformv1.ReasonCardinality, true,
				"%s is OnePerCluster and ChartRelease %s/%s already installs it: delete one", rel.Spec.Chart.Repository, o.Namespace, o.Name)
		}
	}
	return nil
}

// values assembles the release's values as Platz does: the UI outputs,
// a platz block for charts whose values have one, the injected ingress,
// then spec.values over them.
func (r *Reconciler) values(rel *platformv1.ChartRelease, cv *platformv1.ChartVersion, e *ext.Extensions, inputs map[string]any, defaults map[string]any) (map[string]any, []ext.Secret, *failure) {
	values := map[string]any{}
	var secrets []ext.Secret
	if e.UISchema != nil {
		v, s, err := e.UISchema.Render(inputs, nil)
		if err != nil {
			return nil, nil, fail(platformv1.ConditionInputsValid, platformv1.ReasonInputsInvalid, true, "%v", err)
		}
		values, secrets = v, s
	}
	if _, ok := defaults["platz"]; ok {
		values["platz"] = map[string]any{"release": rel.Name, "namespace": rel.Namespace, "chart": cv.Spec.Chart, "chartVersion": cv.Spec.Version, "source": cv.Spec.Source}
	}
	rel.Status.IngressHost = ""
	if e.Features != nil && e.Features.Ingress.Enabled {
		host, err := r.host(rel, e.Features.Ingress.HostnameFormat)
		if err != nil {
			return nil, nil, fail(platformv1.ConditionReleased, platformv1.ReasonHostInvalid, true, "%v", err)
		}
		values["ingress"] = map[string]any{
			"enabled": true, "className": r.Config.IngressClass,
			"hosts": []any{map[string]any{"host": host, "paths": []any{map[string]any{"path": "/", "pathType": "ImplementationSpecific"}}}},
			"tls":   []any{map[string]any{"secretName": rel.Name + "-tls", "hosts": []any{host}}},
		}
		rel.Status.IngressHost = host
	}
	if rel.Spec.Values != nil {
		var override map[string]any
		if err := json.Unmarshal(rel.Spec.Values.Raw, &override); err != nil {
			return nil, nil, fail(platformv1.ConditionInputsValid, platformv1.ReasonInputsInvalid, true, "spec.values: %v", err)
		}
		values = merge(values, override)
	}
	return values, secrets, nil
}

// host is the injected ingress's host: <release>.<namespace>.charts.
// <BASE_DOMAIN> (KindAndName) or <release>.charts.<BASE_DOMAIN> (Name) —
// under a label no environment or tenant app host has, so no release can
// take an app's host, and checked as spec.domain is.
func (r *Reconciler) host(rel *platformv1.ChartRelease, format string) (string, error) {
	labels := []string{naming.DNSLabel(rel.Name)}
	if format != ext.FormatN {
		labels = append(labels, naming.DNSLabel(rel.Namespace))
	}
	host := strings.Join(append(labels, "charts", r.Config.BaseDomain), ".")
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 || !naming.HostWithin(host, r.Config.BaseDomain) {
		return "", fmt.Errorf("the generated host %q is not a valid host under BASE_DOMAIN: %s", host, strings.Join(errs, "; "))
	}
	return host, nil
}

// merge lays over onto base, maps key by key.
func merge(base, over map[string]any) map[string]any {
	for k, v := range over {
		if bm, ok := base[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				base[k] = merge(bm, om)
				continue
			}
		}
		base[k] = v
	}
	return base
}

// ensureSecrets writes the Secret outputs, owned by the release; a Secret
// of that name the release does not own is never touched.
func (r *Reconciler) ensureSecrets(ctx context.Context, rel *platformv1.ChartRelease, secrets []ext.Secret) *failure {
	for _, s := range secrets {
		cur := &corev1.Secret{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: rel.Namespace, Name: s.Name}, cur)
		data := map[string][]byte{}
		for k, v := range s.Data {
			data[k] = []byte(v)
		}
		switch {
		case apierrors.IsNotFound(err):
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: rel.Namespace,
				Labels: map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue}}, Data: data}
			if err := controllerutil.SetControllerReference(rel, sec, r.Scheme()); err != nil {
				return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "%v", err)
			}
			if err := r.Create(ctx, sec); err != nil {
				return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "creating Secret %s: %v", s.Name, err)
			}
		case err != nil:
			return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "%v", err)
		case !metav1.IsControlledBy(cur, rel):
			return fail(platformv1.ConditionReleased, platformv1.ReasonSecretConflict, true,
				"the chart writes Secret %s, which exists and does not belong to this release: rename or delete it", s.Name)
		case !equalData(cur.Data, data):
			cur.Data = data
			if err := r.Update(ctx, cur); err != nil {
				return fail(platformv1.ConditionReleased, platformv1.ReasonHelmFailed, false, "updating Secret %s: %v", s.Name, err)
			}
		}
	}
	return nil
}

func equalData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if string(b[k]) != string(v) {
			return false
		}
	}
	return true
}

// pull reads the chart archive of cv, keeping the last few by digest.
func (r *Reconciler) pull(ctx context.Context, src *platformv1.ChartSource, cv *platformv1.ChartVersion) ([]byte, error) {
	r.mu.Lock()
	b, ok := r.charts[cv.Spec.Digest]
	r.mu.Unlock()
	if ok {
		return b, nil
	}
	creds, err := r.credentials(ctx, src)
	if err != nil {
		return nil, err
	}
	max := int64(100 << 20)
	if src.Spec.MaxChartSize != nil {
		max = src.Spec.MaxChartSize.Value()
	}
	f := discovery.Found{Repository: cv.Spec.Repository, Tag: cv.Spec.Version, Digest: cv.Spec.Digest, URL: cv.Spec.URL, Size: cv.Spec.Size}
	switch {
	case src.Spec.OCI != nil:
		o := &discovery.OCI{Spec: *src.Spec.OCI, Creds: creds, Transport: r.Transport}
		var found discovery.Found
		if found, err = o.Inspect(ctx, cv.Spec.Repository, cv.Spec.Version, cv.Spec.Digest); err == nil {
			b, err = o.Pull(ctx, found, max)
		}
	case src.Spec.Helm != nil:
		h := &discovery.HelmRepo{Spec: *src.Spec.Helm, Creds: creds}
		if r.Transport != nil {
			h.Client = &http.Client{Transport: r.Transport, Timeout: time.Minute}
		}
		b, err = h.Pull(ctx, f, max)
		if err == nil && cv.Spec.Digest != "" {
			sum := sha256.Sum256(b)
			if d := "sha256:" + hex.EncodeToString(sum[:]); d != cv.Spec.Digest {
				err = fmt.Errorf("the archive's digest is %s, not %s as recorded: the repository changed it", d, cv.Spec.Digest)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.charts) >= 16 {
		clear(r.charts)
	}
	r.charts[cv.Spec.Digest] = b
	r.mu.Unlock()
	return b, nil
}

func (r *Reconciler) credentials(ctx context.Context, src *platformv1.ChartSource) (discovery.Credentials, error) {
	if src.Spec.SecretRef == "" {
		return discovery.Credentials{}, nil
	}
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.Config.PlatformNamespace, Name: src.Spec.SecretRef}, s); err != nil {
		return discovery.Credentials{}, fmt.Errorf("ChartSource %s: spec.secretRef: %w", src.Name, err)
	}
	return discovery.Credentials{Username: string(s.Data["username"]), Password: string(s.Data["password"])}, nil
}

// reconcileDelete uninstalls the Helm release, then lets the object go
// (its Secret outputs go with it: they are owned by it).
func (r *Reconciler) reconcileDelete(ctx context.Context, run *kit.Run[*platformv1.ChartRelease]) (ctrl.Result, error) {
	rel := run.Obj
	if !controllerutil.ContainsFinalizer(rel, platformv1.FinalizerChartRelease) {
		return ctrl.Result{}, nil
	}
	t := helmrun.Target{Namespace: rel.Namespace, Name: rel.Name, ServiceAccount: rel.Namespace + "/" + platformv1.ReleaseServiceAccount}
	src := &platformv1.ChartSource{}
	if err := r.Get(ctx, client.ObjectKey{Name: rel.Spec.Chart.Source}, src); err == nil && src.Spec.Trusted != nil {
		t.ServiceAccount, t.Trusted = r.Config.PlatformNamespace+"/"+src.Spec.Trusted.ServiceAccount, true
	}
	if err := r.Helm.Uninstall(t); err != nil {
		kit.Terminating(run, fmt.Sprintf("uninstalling the Helm release: %v", err))
		return ctrl.Result{}, errors.Join(fmt.Errorf("uninstalling %s/%s: %w", rel.Namespace, rel.Name, err), r.kit.Patch(ctx, run))
	}
	return ctrl.Result{}, r.kit.RemoveFinalizers(ctx, rel, platformv1.FinalizerChartRelease)
}
