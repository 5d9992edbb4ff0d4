// Package chartsource reconciles ChartSources: each scan lists the chart
// versions the registry or Helm repository serves and records each one not
// seen before as a ChartVersion — once per digest, with its Chart.yaml
// facts and its Platz extensions parsed (or the parse error) — so an
// unchanged registry costs reads only, never a write. Scans run every
// spec.interval and at once when the scan-requested-at annotation changes.
package chartsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/charts/discovery"
	"github.com/plattr/plattr/internal/charts/ext"
	"github.com/plattr/plattr/internal/controller/kit"
)

// Reconciler reconciles ChartSources.
type Reconciler struct {
	kit.Deps
	// PlatformNamespace holds the sources' credential Secrets.
	PlatformNamespace string
	// Transport reaches the registries; nil is the default.
	Transport http.RoundTripper
	// ScanTimeout bounds one scan; 0 is 2 minutes.
	ScanTimeout time.Duration

	kit *kit.Kit[*platformv1.ChartSource]
	// notCharts remembers the digests found not to be Helm charts, so an
	// image beside the charts is inspected once, not on every scan.
	notCharts sync.Map
}

const (
	defaultInterval = 5 * time.Minute
	defaultMaxSize  = 10 << 20
)

// +kubebuilder:rbac:groups=platform.internal,resources=chartsources,verbs=get;list;watch
// +kubebuilder:rbac:groups=platform.internal,resources=chartsources/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=chartversions,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=platform.internal,resources=chartversions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	r.kit = kit.New("chartsource", r.Deps, func() *platformv1.ChartSource { return &platformv1.ChartSource{} })
	return ctrl.NewControllerManagedBy(mgr).
		For(&platformv1.ChartSource{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WithOptions(controller.Options{SkipNameValidation: &skipNameValidation, MaxConcurrentReconciles: 2}).
		Named("chartsource").
		Complete(r)
}

// VersionName is the ChartVersion name of a chart version: a hash of
// source, repository and digest.
func VersionName(source, repository, digest string) string {
	h := sha256.Sum256([]byte(source + "\x00" + repository + "\x00" + digest))
	return hex.EncodeToString(h[:20])
}

// RepositoryLabel is the value of LabelChartRepository for a repository.
func RepositoryLabel(repository string) string {
	h := sha256.Sum256([]byte(repository))
	return hex.EncodeToString(h[:20])
}

// labelValue makes s a valid label value (a chart's name may not be).
func labelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return "x-" + hex.EncodeToString(h[:10])
}

// Reconcile scans one source.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	src := &platformv1.ChartSource{}
	if err := r.Get(ctx, req.NamespacedName, src); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !src.DeletionTimestamp.IsZero() {
		// Its ChartVersions are owned by it and go with it.
		return ctrl.Result{}, nil
	}
	run := kit.Begin(src)
	interval := defaultInterval
	if src.Spec.Interval != nil && src.Spec.Interval.Duration > 0 {
		interval = src.Spec.Interval.Duration
	}
	timeout := r.ScanTimeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := r.kit.Time("scan")
	created, total, failure := r.scan(sctx, src)
	stop()

	v := kit.Verdict{Resync: interval, Ready: fmt.Sprintf("%d chart versions", total)}
	if failure != nil {
		run.Fail(failure.err)
		v.NotReady = &metav1.Condition{Type: "Scan", Reason: failure.reason, Message: failure.err.Error()}
	}
	src.Status.Charts = int32(total)
	if created > 0 || src.Status.LastScanTime == nil {
		if failure == nil {
			now := metav1.NewTime(r.kit.Now().Truncate(time.Second))
			src.Status.LastScanTime = &now
		}
	}
	src.Status.ScanRequestedAt = src.Annotations[platformv1.AnnotationScanRequestedAt]
	result, err := r.kit.Finish(run, v)
	return result, errors.Join(err, r.kit.Patch(ctx, run))
}

type scanFailure struct {
	reason string
	err    error
}

// scan records the chart versions not seen before and returns how many it
// created, how many the source holds, and the first failure (the scan goes
// on past a failing repository or chart).
func (r *Reconciler) scan(ctx context.Context, src *platformv1.ChartSource) (created, total int, failure *scanFailure) {
	creds, err := r.credentials(ctx, src)
	if err != nil {
		return 0, 0, &scanFailure{platformv1.ReasonCredentialsMissing, err}
	}
	existing := &platformv1.ChartVersionList{}
	if err := r.List(ctx, existing, client.MatchingLabels{platformv1.LabelChartSource: src.Name}); err != nil {
		return 0, 0, &scanFailure{platformv1.ReasonScanFailed, err}
	}
	known := map[string]bool{}
	for _, cv := range existing.Items {
		known[cv.Name] = true
	}
	total = len(known)
	max := int64(defaultMaxSize)
	if src.Spec.MaxChartSize != nil {
		max = src.Spec.MaxChartSize.Value()
	}
	var errs []error
	record := func(f discovery.Found, pull func(context.Context, discovery.Found, int64) ([]byte, error), registry string) {
		name := VersionName(src.Name, f.Repository, f.Digest)
		if known[name] {
			return
		}
		cv, err := r.versionOf(ctx, src, f, pull, max, registry)
		if err == nil {
			err = r.create(ctx, src, cv)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("recording %s:%s: %w", f.Repository, f.Tag, err))
			return
		}
		known[name] = true
		created++
		total++
	}
	switch {
	case src.Spec.OCI != nil:
		o := &discovery.OCI{Spec: *src.Spec.OCI, Creds: creds, Transport: r.Transport}
		repos, err := o.Repositories(ctx)
		if err != nil {
			return 0, total, &scanFailure{platformv1.ReasonScanFailed, err}
		}
		for _, repo := range repos {
			tags, err := o.Tags(ctx, repo)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for tag, digest := range tags {
				if known[VersionName(src.Name, repo, digest)] {
					continue
				}
				if _, skip := r.notCharts.Load(src.Spec.OCI.Registry + "/" + repo + "@" + digest); skip {
					continue
				}
				f, err := o.Inspect(ctx, repo, tag, digest)
				if errors.Is(err, discovery.ErrNotChart) {
					r.notCharts.Store(src.Spec.OCI.Registry+"/"+repo+"@"+digest, true)
					continue
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				record(f, o.Pull, src.Spec.OCI.Registry)
			}
		}
	case src.Spec.Helm != nil:
		h := &discovery.HelmRepo{Spec: *src.Spec.Helm, Creds: creds}
		if r.Transport != nil {
			h.Client = &http.Client{Transport: r.Transport, Timeout: time.Minute}
		}
		found, etag, notModified, err := h.Index(ctx, src.Status.ETag)
		if err != nil {
			return 0, total, &scanFailure{platformv1.ReasonScanFailed, err}
		}
		if !notModified {
			for _, f := range found {
				pull := h.Pull
				if f.Digest == "" {
					// No digest in the index: the archive's own hash, from
					// the one pull that is then recorded.
					b, err := h.Pull(ctx, f, max)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					sum := sha256.Sum256(b)
					f.Digest = "sha256:" + hex.EncodeToString(sum[:])
					pull = func(context.Context, discovery.Found, int64) ([]byte, error) { return b, nil }
				}
				record(f, pull, src.Spec.Helm.URL)
			}
			if len(errs) == 0 {
				src.Status.ETag = etag
			}
		}
	}
	if len(errs) > 0 {
		return created, total, &scanFailure{platformv1.ReasonScanFailed, errors.Join(errs...)}
	}
	return created, total, nil
}

// credentials reads the source's Secret from the platform namespace.
func (r *Reconciler) credentials(ctx context.Context, src *platformv1.ChartSource) (discovery.Credentials, error) {
	if src.Spec.SecretRef == "" {
		return discovery.Credentials{}, nil
	}
	s := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.PlatformNamespace, Name: src.Spec.SecretRef}, s)
	if apierrors.IsNotFound(err) {
		return discovery.Credentials{}, fmt.Errorf("spec.secretRef: Secret %s/%s does not exist: create it with the keys username and password", r.PlatformNamespace, src.Spec.SecretRef)
	}
	if err != nil {
		return discovery.Credentials{}, err
	}
	if len(s.Data["username"]) == 0 && len(s.Data["password"]) == 0 {
		return discovery.Credentials{}, fmt.Errorf("spec.secretRef: Secret %s/%s has neither username nor password", r.PlatformNamespace, src.Spec.SecretRef)
	}
	return discovery.Credentials{Username: string(s.Data["username"]), Password: string(s.Data["password"])}, nil
}

// versionOf pulls and reads one chart version. What cannot be read (too
// large, not a chart archive, broken extensions) is recorded as the
// version's error, so it is shown and never installed, and not pulled
// again.
func (r *Reconciler) versionOf(ctx context.Context, src *platformv1.ChartSource, f discovery.Found,
	pull func(context.Context, discovery.Found, int64) ([]byte, error), max int64, registry string) (*platformv1.ChartVersion, error) {
	now := metav1.NewTime(r.kit.Now().Truncate(time.Second))
	chartName := f.Repository[strings.LastIndex(f.Repository, "/")+1:]
	cv := &platformv1.ChartVersion{
		ObjectMeta: metav1.ObjectMeta{Name: VersionName(src.Name, f.Repository, f.Digest)},
		Spec: platformv1.ChartVersionSpec{Source: src.Name, Registry: registry, Repository: f.Repository, Chart: chartName,
			Version: f.Tag, Digest: f.Digest, URL: f.URL, Size: f.Size, AppVersion: f.AppVersion, Created: &now},
	}
	b, err := pull(ctx, f, max)
	if err != nil {
		var tooLarge *discovery.TooLargeError
		if errors.As(err, &tooLarge) {
			cv.Status.Error = err.Error()
			return cv, nil
		}
		// A pull that failed for another reason is retried next scan.
		return nil, fmt.Errorf("pulling the chart: %w", err)
	}
	cv.Spec.Size = int64(len(b))
	chart, err := ext.ReadArchive(b)
	if err != nil {
		cv.Status.Error = err.Error()
		return cv, nil
	}
	md := chart.Metadata
	cv.Spec.Chart, cv.Spec.Version, cv.Spec.AppVersion = md.Name, md.Version, md.AppVersion
	if g := (platformv1.ChartGit{Commit: md.Annotations[ext.AnnotationGitCommit], Branch: md.Annotations[ext.AnnotationGitBranch],
		Repo: md.Annotations[ext.AnnotationGitRepo], Provider: md.Annotations[ext.AnnotationGitProvider]}); g != (platformv1.ChartGit{}) {
		cv.Spec.Git = &g
	}
	if chart.ExtErr != nil {
		cv.Status.Error = chart.ExtErr.Error()
		return cv, nil
	}
	raw, err := json.Marshal(chart.Ext)
	if err != nil {
		cv.Status.Error = err.Error()
		return cv, nil
	}
	cv.Status.Format = chart.Ext.Format()
	cv.Status.Extensions = &apiextensionsv1.JSON{Raw: raw}
	return cv, nil
}

// create writes the ChartVersion and its status (two writes, once per
// digest).
func (r *Reconciler) create(ctx context.Context, src *platformv1.ChartSource, cv *platformv1.ChartVersion) error {
	cv.Labels = map[string]string{
		platformv1.LabelChartSource:     src.Name,
		platformv1.LabelChart:           labelValue(cv.Spec.Chart),
		platformv1.LabelChartRepository: RepositoryLabel(cv.Spec.Repository),
		platformv1.LabelManagedBy:       platformv1.ManagedByValue,
	}
	cv.OwnerReferences = []metav1.OwnerReference{{APIVersion: platformv1.GroupVersion.String(), Kind: "ChartSource", Name: src.Name, UID: src.UID}}
	st := cv.Status
	if err := r.Create(ctx, cv); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	} else if err != nil {
		return nil
	}
	cv.Status = st
	if err := r.Status().Update(ctx, cv); err != nil {
		// Without its status the version would look parsed and empty:
		// made again on the next scan instead.
		_ = r.Delete(ctx, cv)
		return err
	}
	return nil
}
