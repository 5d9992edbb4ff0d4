package application

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

const (
	// PostgRESTImage is pinned: upgrading it is an operator release.
	PostgRESTImage = "postgrest/postgrest:v12.2.3"
	// PostgRESTPort serves the app's schema as a REST API.
	PostgRESTPort = 3001
	// postgrestAdminPort serves PostgREST's /live and /ready probes.
	postgrestAdminPort = 3002
)

// reconcileWorkload applies the ServiceAccount, Deployment, Service, HPA and
// PDB, and reports whether the Deployment is Available.
func (r *Reconciler) reconcileWorkload(ctx context.Context, s *scope) error {
	app := s.app
	if app.Spec.ImageRef == "" {
		s.waiting = true
		setCondition(app, platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonImageMissing,
			"spec.imageRef is empty: set it to the image to run (plattr deploy --image …)")
		return nil
	}
	// Pods cannot start without the objects they take their environment
	// from, so the workload waits for every capability the app asked for.
	for _, w := range []struct {
		enabled   bool
		kind      capability
		condition string
		reason    string
		what      string
	}{
		{app.Spec.DatabaseEnabled(), capabilityDatabase, platformv1.ConditionDatabaseReady, platformv1.ReasonWaitingForDatabase, "the database to be provisioned (see DatabaseReady)"},
		{app.Spec.StorageEnabled(), capabilityStorage, platformv1.ConditionStorageReady, platformv1.ReasonWaitingForStorage, "its buckets and keys (see StorageReady)"},
		{app.Spec.AuthEnabled(), capabilityAuth, platformv1.ConditionAuthReady, platformv1.ReasonWaitingForAuth, "its OIDC client (see AuthReady)"},
	} {
		if !w.enabled || s.provided(w.kind) {
			continue
		}
		// The capability failed this time. If it was provisioned before,
		// its objects still hold a working configuration: keep it, so an
		// outage of one backend does not stop a new image from rolling out.
		ok, err := r.keepLastGood(ctx, s, w.kind, w.condition)
		if err != nil {
			return s.fail(err)
		}
		if !ok {
			setCondition(app, platformv1.ConditionDeploymentReady, metav1.ConditionFalse, w.reason, "waiting for "+w.what)
			return nil
		}
	}
	// In phase order, whether written now or kept from before, so the
	// Deployment does not change when a capability falls back.
	rank := map[capability]int{capabilityDatabase: 0, capabilityStorage: 1, capabilityAuth: 2}
	slices.SortStableFunc(s.envSources, func(a, b envSource) int { return rank[a.From] - rank[b.From] })
	env, hashInputs, err := r.resolveEnvVars(ctx, app)
	if err != nil {
		setCondition(app, platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonSecretMissing, err.Error())
		return s.fail(err)
	}
	for _, src := range s.envSources {
		hashInputs = append(hashInputs, secretDigest(src.Kind+"/"+src.Name, src.Data))
	}
	name := naming.ObjectsFor(app.Name).Workload
	scaling := app.Spec.EffectiveScaling()

	steps := []struct {
		what  string
		apply func() error
	}{
		{"ServiceAccount", func() error {
			return applyChild(ctx, r, s, &corev1.ServiceAccount{}, r.serviceAccount(app, name), corev1ac.ExtractServiceAccount)
		}},
		{"Deployment", func() error {
			desired := r.deployment(app, name, env, s.envSources, configHash(hashInputs), r.Config.ProgressDeadline)
			created, err := r.createDeployment(ctx, s, desired, scaling.Min)
			if err != nil || created {
				return err
			}
			return applyChild(ctx, r, s, &appsv1.Deployment{}, desired, appsv1ac.ExtractDeployment)
		}},
		{"Service", func() error {
			return applyChild(ctx, r, s, &corev1.Service{}, r.service(app, name), corev1ac.ExtractService)
		}},
		{"HorizontalPodAutoscaler", func() error {
			return applyChild(ctx, r, s, &autoscalingv2.HorizontalPodAutoscaler{}, r.hpa(app, name, scaling), autoscalingv2ac.ExtractHorizontalPodAutoscaler)
		}},
		{"PodDisruptionBudget", func() error {
			if scaling.Min < 2 {
				// With one pod a PDB of minAvailable 1 would block every drain.
				return deleteChild(ctx, r, s, &policyv1.PodDisruptionBudget{}, name)
			}
			return applyChild(ctx, r, s, &policyv1.PodDisruptionBudget{}, r.pdb(app, name), policyv1ac.ExtractPodDisruptionBudget)
		}},
	}
	for _, step := range steps {
		if err := step.apply(); err != nil {
			setCondition(app, platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonApplyFailed,
				fmt.Sprintf("applying %s %s: %v", step.what, name, err))
			return s.fail(err)
		}
	}
	s.workloadUp = true

	d := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: name}, d); err != nil {
		if apierrors.IsNotFound(err) {
			setCondition(app, platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonRollingOut, "Deployment created; waiting for it to be observed")
			return nil
		}
		return s.fail(err)
	}
	s.deployment = d
	if stalled, msg := progressDeadlineExceeded(d); stalled {
		// Retrying will not help: the pods need a fix (image, app, room in
		// the cluster). Failed at once, with the pods' own reason.
		msg = fmt.Sprintf("%s; pods: %s. Fix the cause (spec.imageRef, the app, or room in the cluster) and deploy again",
			msg, r.podProblems(ctx, app))
		setCondition(app, platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonProgressDeadlineExceeded, msg)
		s.terminal = true
		return s.fail(errors.New(msg))
	}
	if ok, msg := deploymentAvailable(d); ok {
		setCondition(app, platformv1.ConditionDeploymentReady, metav1.ConditionTrue, platformv1.ReasonAvailable, msg)
	} else if ok, msg := rolloutComplete(d); ok && s.settled {
		// Running at this generation and every pod runs the current
		// template: the HPA adding pods or an eviction replacing one is not
		// a new rollout, so the app stays Running. (A scale change the
		// Deployment controller has not observed yet counts as complete:
		// this app's spec did not change.)
		setCondition(app, platformv1.ConditionDeploymentReady, metav1.ConditionTrue, platformv1.ReasonAvailable, msg)
	} else {
		setCondition(app, platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonRollingOut, msg)
	}
	return nil
}

// progressDeadlineExceeded reports a rollout the Deployment controller gave
// up on (Progressing=False, ProgressDeadlineExceeded).
func progressDeadlineExceeded(d *appsv1.Deployment) (bool, string) {
	if d.Status.ObservedGeneration < d.Generation {
		return false, ""
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return true, fmt.Sprintf("the rollout made no progress for %ds (progressDeadlineSeconds): %s", ptr.Deref(d.Spec.ProgressDeadlineSeconds, 600), c.Message)
		}
	}
	return false, ""
}

// rolloutComplete: every pod the Deployment controller last reported runs
// its latest template, and at least one is available. Callers use it only
// for an app settled at its generation, whose template Plattr did not change.
func rolloutComplete(d *appsv1.Deployment) (bool, string) {
	st := d.Status
	if st.UpdatedReplicas < st.Replicas || st.AvailableReplicas < 1 {
		return false, ""
	}
	return true, fmt.Sprintf("%d of %d replicas available; the rollout is complete and pods are being added or replaced", st.AvailableReplicas, ptr.Deref(d.Spec.Replicas, 1))
}

// podProblems says why the app's pods are not ready, from their own status:
// a scheduling failure, a container waiting (ImagePullBackOff,
// CrashLoopBackOff) or terminated with an error.
func (r *Reconciler) podProblems(ctx context.Context, app *platformv1.Application) string {
	pods := &corev1.PodList{}
	if err := r.APIReader.List(ctx, pods, client.InNamespace(app.Namespace), client.MatchingLabels(selectorLabels(app))); err != nil {
		return "could not list them: " + err.Error()
	}
	var out []string
	add := func(p string) {
		if !slices.Contains(out, p) && len(out) < 3 {
			out = append(out, p)
		}
	}
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				add(fmt.Sprintf("%s: %s", c.Reason, c.Message))
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating":
				add(fmt.Sprintf("container %s %s: %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message))
			case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
				add(fmt.Sprintf("container %s %s (exit code %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode))
			}
		}
	}
	if len(out) == 0 {
		return "none reports a reason; see kubectl describe pods -l " + platformv1.LabelApp + "=" + app.Name
	}
	return strings.Join(out, "; ")
}

// keepLastGood adds the envSources a capability wrote on an earlier
// reconcile — its Secret (and ConfigMap) as they are, if this app owns them
// — and says so in the capability's condition. It reports whether there
// was such a configuration.
func (r *Reconciler) keepLastGood(ctx context.Context, s *scope, c capability, condition string) (bool, error) {
	name := map[capability]string{
		capabilityDatabase: naming.ObjectsFor(s.app.Name).DatabaseSecret,
		capabilityStorage:  naming.ObjectsFor(s.app.Name).StorageSecret,
		capabilityAuth:     naming.ObjectsFor(s.app.Name).AuthSecret,
	}[c]
	key := client.ObjectKey{Namespace: s.app.Namespace, Name: name}
	secret := &corev1.Secret{}
	if err := r.Get(ctx, key, secret); err != nil || !ownedBy(secret, s.app) || !secret.DeletionTimestamp.IsZero() {
		return false, client.IgnoreNotFound(err)
	}
	var sources []envSource
	if c != capabilityDatabase { // storage and auth also hand the app a ConfigMap
		cm := &corev1.ConfigMap{}
		if err := r.Get(ctx, key, cm); err != nil || !ownedBy(cm, s.app) {
			return false, client.IgnoreNotFound(err)
		}
		sources = append(sources, envSource{From: c, Kind: kindConfigMap, Name: name, Data: stringData(cm.Data)})
	}
	sources = append(sources, envSource{From: c, Kind: kindSecret, Name: name, Data: secret.Data})
	s.envSources = append(s.envSources, sources...)
	if cond := meta.FindStatusCondition(s.app.Status.Conditions, condition); cond != nil && cond.Status != metav1.ConditionTrue {
		setCondition(s.app, condition, cond.Status, cond.Reason, cond.Message+"; meanwhile the workload keeps the configuration provisioned before")
	}
	return true, nil
}

// createDeployment creates a missing Deployment with server-side apply under
// Plattr's one field manager, then sets scaling.min replicas through the
// scale subresource — the way the HPA sets them — so no apply of Plattr
// ever owns spec.replicas and nothing fights the autoscaler. (Creating it
// with a plain create under a second manager, as earlier versions did,
// made that manager co-own every field, so fields the spec dropped stayed.)
// A crash between the two calls leaves one replica, which the HPA raises
// to its minimum.
func (r *Reconciler) createDeployment(ctx context.Context, s *scope, desired *appsv1ac.DeploymentApplyConfiguration, replicas int32) (bool, error) {
	key := client.ObjectKey{Namespace: *desired.Namespace, Name: *desired.Name}
	live := &appsv1.Deployment{}
	err := r.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, live)
	}
	if err == nil {
		return false, r.dropLegacyCreateManager(ctx, live)
	}
	if !apierrors.IsNotFound(err) {
		return false, err
	}
	if err := r.Apply(ctx, desired, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return false, err
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	scale := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas))
	if err := r.SubResource("scale").Patch(ctx, d, scale, client.FieldOwner(initialReplicasManager),
		&client.SubResourcePatchOptions{SubResourceBody: &autoscalingv1.Scale{}}); err != nil {
		return false, fmt.Errorf("setting the initial %d replicas: %w", replicas, err)
	}
	if s.settled {
		r.Recorder.Eventf(s.app, nil, corev1.EventTypeWarning, EventRestored, "Restore",
			"Deployment %s was deleted outside Plattr and has been recreated", key.Name)
	}
	return true, nil
}

// initialReplicasManager sets a new Deployment's replicas once; the HPA
// takes them over from there.
const initialReplicasManager = "plattr-initial-replicas"

// legacyCreateManager is the field manager earlier versions created
// Deployments with. It co-owned every field, so a field the spec dropped
// stayed in the Deployment; its entry is removed, leaving the fields to
// Plattr's apply (and spec.replicas to the HPA).
const legacyCreateManager = "plattr-create"

func (r *Reconciler) dropLegacyCreateManager(ctx context.Context, d *appsv1.Deployment) error {
	for i, mf := range d.ManagedFields {
		if mf.Manager != legacyCreateManager {
			continue
		}
		// "test" guards against the list having changed since it was read.
		patch := fmt.Appendf(nil, `[{"op":"test","path":"/metadata/managedFields/%d/manager","value":%q},{"op":"remove","path":"/metadata/managedFields/%d"}]`,
			i, legacyCreateManager, i)
		return r.Patch(ctx, d, client.RawPatch(types.JSONPatchType, patch))
	}
	return nil
}

// deploymentAvailable is true when the Deployment controller has seen the
// latest spec, every desired replica runs the latest template, and the
// Deployment reports Available.
func deploymentAvailable(d *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	if st.ObservedGeneration < d.Generation {
		return false, fmt.Sprintf("rolling out: waiting for %d replica(s) of the current version to be available", want)
	}
	available := false
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			available = true
		}
	}
	if !available || st.UpdatedReplicas < want || st.AvailableReplicas < want || st.Replicas > st.UpdatedReplicas {
		// No counts in the message: each would be a status write per pod
		// becoming ready, for every app of a burst.
		return false, fmt.Sprintf("rolling out: waiting for %d replica(s) of the current version to be available", want)
	}
	return true, fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, want)
}

// resolveEnvVars turns spec.envVars into container variables and collects a
// digest of every referenced Secret value, so a change rolls the pods.
func (r *Reconciler) resolveEnvVars(ctx context.Context, app *platformv1.Application) ([]*corev1ac.EnvVarApplyConfiguration, []string, error) {
	var env []*corev1ac.EnvVarApplyConfiguration
	var digests []string
	for i, v := range app.Spec.EnvVars {
		if v.SecretKeyRef == nil {
			env = append(env, corev1ac.EnvVar().WithName(v.Name).WithValue(v.Value))
			continue
		}
		secret := &corev1.Secret{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: v.SecretKeyRef.Name}, secret)
		if apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("spec.envVars[%d] (%s): Secret %q does not exist in namespace %s; create it or fix secretKeyRef.name",
				i, v.Name, v.SecretKeyRef.Name, app.Namespace)
		}
		if err != nil {
			return nil, nil, err
		}
		value, ok := secret.Data[v.SecretKeyRef.Key]
		if !ok {
			return nil, nil, fmt.Errorf("spec.envVars[%d] (%s): Secret %q has no key %q; add it or fix secretKeyRef.key",
				i, v.Name, v.SecretKeyRef.Name, v.SecretKeyRef.Key)
		}
		digests = append(digests, secretDigest(v.SecretKeyRef.Name+"/"+v.SecretKeyRef.Key, map[string][]byte{"v": value}))
		env = append(env, corev1ac.EnvVar().WithName(v.Name).WithValueFrom(corev1ac.EnvVarSource().
			WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(v.SecretKeyRef.Name).WithKey(v.SecretKeyRef.Key))))
	}
	return env, digests, nil
}

func secretDigest(name string, data map[string][]byte) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	h.Write([]byte(name))
	for _, k := range keys {
		fmt.Fprintf(h, "\x00%s\x00%d\x00", k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func configHash(digests []string) string {
	sort.Strings(digests)
	h := sha256.New()
	for _, d := range digests {
		h.Write([]byte(d))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (r *Reconciler) serviceAccount(app *platformv1.Application, name string) *corev1ac.ServiceAccountApplyConfiguration {
	return corev1ac.ServiceAccount(name, app.Namespace).
		WithLabels(labels(app)).
		WithOwnerReferences(ownerReference(app)).
		WithAutomountServiceAccountToken(false)
}

func restrictedContainer() *corev1ac.SecurityContextApplyConfiguration {
	return corev1ac.SecurityContext().
		WithAllowPrivilegeEscalation(false).
		WithRunAsNonRoot(true).
		WithCapabilities(corev1ac.Capabilities().WithDrop("ALL")).
		WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))
}

func resources(cpuReq, memReq, cpuLim, memLim string) *corev1ac.ResourceRequirementsApplyConfiguration {
	return corev1ac.ResourceRequirements().
		WithRequests(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuReq), corev1.ResourceMemory: resource.MustParse(memReq)}).
		WithLimits(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLim), corev1.ResourceMemory: resource.MustParse(memLim)})
}

// deployment never sets spec.replicas: the HPA owns the replica count, and
// two writers would fight over it.
func (r *Reconciler) deployment(app *platformv1.Application, name string, env []*corev1ac.EnvVarApplyConfiguration, sources []envSource, hash string, progressDeadline time.Duration) *appsv1ac.DeploymentApplyConfiguration {
	port := app.Spec.EffectivePort()
	// Zero values are never set in an apply configuration: they are not
	// serialised, so the live object could never compare equal.
	readiness := corev1ac.Probe().
		WithHTTPGet(corev1ac.HTTPGetAction().WithPath(app.Spec.EffectiveHealthPath()).WithPort(intstr.FromString("http"))).
		WithPeriodSeconds(10).WithFailureThreshold(3)
	liveness := corev1ac.Probe().
		WithHTTPGet(corev1ac.HTTPGetAction().WithPath(app.Spec.EffectiveHealthPath()).WithPort(intstr.FromString("http"))).
		WithInitialDelaySeconds(15).WithPeriodSeconds(10).WithFailureThreshold(3)
	appContainer := corev1ac.Container().
		WithName("app").
		WithImage(app.Spec.ImageRef).
		WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(port).WithProtocol(corev1.ProtocolTCP)).
		WithEnv(corev1ac.EnvVar().WithName(platformv1.KeyPort).WithValue(fmt.Sprint(port))).
		WithEnv(env...).
		WithReadinessProbe(readiness).
		WithLivenessProbe(liveness).
		WithResources(resources("100m", "128Mi", "1", "512Mi")).
		WithSecurityContext(restrictedContainer())
	containers := []*corev1ac.ContainerApplyConfiguration{appContainer}

	for _, src := range sources {
		if src.Kind == kindSecret {
			appContainer.WithEnvFrom(corev1ac.EnvFromSource().WithSecretRef(corev1ac.SecretEnvSource().WithName(src.Name)))
		} else {
			appContainer.WithEnvFrom(corev1ac.EnvFromSource().WithConfigMapRef(corev1ac.ConfigMapEnvSource().WithName(src.Name)))
		}
	}
	if app.Spec.DatabaseEnabled() {
		secret := naming.ObjectsFor(app.Name).DatabaseSecret
		names := naming.DatabaseFor(app)
		adminProbe := func(path string) *corev1ac.ProbeApplyConfiguration {
			return corev1ac.Probe().WithHTTPGet(corev1ac.HTTPGetAction().WithPath(path).WithPort(intstr.FromInt32(postgrestAdminPort))).
				WithPeriodSeconds(10)
		}
		containers = append(containers, corev1ac.Container().
			WithName("postgrest").
			WithImage(PostgRESTImage).
			WithPorts(corev1ac.ContainerPort().WithName("postgrest").WithContainerPort(PostgRESTPort).WithProtocol(corev1.ProtocolTCP)).
			WithEnv(
				corev1ac.EnvVar().WithName("PGRST_DB_URI").WithValueFrom(corev1ac.EnvVarSource().
					WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(secret).WithKey(platformv1.KeyDatabaseURL))),
				// The very schema and role the database phase created.
				corev1ac.EnvVar().WithName("PGRST_DB_SCHEMAS").WithValue(names.Schema),
				corev1ac.EnvVar().WithName("PGRST_DB_ANON_ROLE").WithValue(names.AnonRole),
				corev1ac.EnvVar().WithName("PGRST_DB_CHANNEL").WithValue(names.Channel),
				corev1ac.EnvVar().WithName("PGRST_SERVER_PORT").WithValue(fmt.Sprint(PostgRESTPort)),
				corev1ac.EnvVar().WithName("PGRST_ADMIN_SERVER_PORT").WithValue(fmt.Sprint(postgrestAdminPort)),
			).
			WithReadinessProbe(adminProbe("/ready")).
			WithLivenessProbe(adminProbe("/live")).
			WithResources(resources("50m", "64Mi", "500m", "256Mi")).
			WithSecurityContext(restrictedContainer()))
	}

	return appsv1ac.Deployment(name, app.Namespace).
		WithLabels(labels(app)).
		WithOwnerReferences(ownerReference(app)).
		WithSpec(appsv1ac.DeploymentSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(app))).
			WithRevisionHistoryLimit(5).
			WithProgressDeadlineSeconds(int32(progressDeadline.Seconds())).
			WithStrategy(appsv1ac.DeploymentStrategy().
				WithType(appsv1.RollingUpdateDeploymentStrategyType).
				WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
					WithMaxUnavailable(intstr.FromInt32(0)).WithMaxSurge(intstr.FromString("25%")))).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(labels(app)).
				WithAnnotations(map[string]string{platformv1.AnnotationConfigHash: hash}).
				WithSpec(corev1ac.PodSpec().
					WithServiceAccountName(name).
					WithAutomountServiceAccountToken(false).
					WithSecurityContext(corev1ac.PodSecurityContext().
						WithRunAsNonRoot(true).
						WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
					WithContainers(containers...))))
}

func (r *Reconciler) service(app *platformv1.Application, name string) *corev1ac.ServiceApplyConfiguration {
	ports := []*corev1ac.ServicePortApplyConfiguration{
		corev1ac.ServicePort().WithName("http").WithPort(80).WithTargetPort(intstr.FromString("http")).WithProtocol(corev1.ProtocolTCP),
	}
	if app.Spec.DatabaseEnabled() {
		ports = append(ports, corev1ac.ServicePort().WithName("postgrest").WithPort(PostgRESTPort).
			WithTargetPort(intstr.FromString("postgrest")).WithProtocol(corev1.ProtocolTCP))
	}
	return corev1ac.Service(name, app.Namespace).
		WithLabels(labels(app)).
		WithOwnerReferences(ownerReference(app)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(selectorLabels(app)).
			WithPorts(ports...))
}

// hpa scales up by at most 2 pods a minute after 30 s of sustained load and
// down by 1 pod a minute behind a 5-minute window, so it does not flap.
func (r *Reconciler) hpa(app *platformv1.Application, name string, scaling platformv1.ScalingSpec) *autoscalingv2ac.HorizontalPodAutoscalerApplyConfiguration {
	return autoscalingv2ac.HorizontalPodAutoscaler(name, app.Namespace).
		WithLabels(labels(app)).
		WithOwnerReferences(ownerReference(app)).
		WithSpec(autoscalingv2ac.HorizontalPodAutoscalerSpec().
			WithScaleTargetRef(autoscalingv2ac.CrossVersionObjectReference().WithAPIVersion("apps/v1").WithKind("Deployment").WithName(name)).
			WithMinReplicas(scaling.Min).
			WithMaxReplicas(scaling.Max).
			WithMetrics(autoscalingv2ac.MetricSpec().
				WithType(autoscalingv2.ResourceMetricSourceType).
				WithResource(autoscalingv2ac.ResourceMetricSource().
					WithName(corev1.ResourceCPU).
					WithTarget(autoscalingv2ac.MetricTarget().
						WithType(autoscalingv2.UtilizationMetricType).
						WithAverageUtilization(scaling.TargetCPU)))).
			WithBehavior(autoscalingv2ac.HorizontalPodAutoscalerBehavior().
				WithScaleUp(autoscalingv2ac.HPAScalingRules().
					WithStabilizationWindowSeconds(30).
					WithPolicies(autoscalingv2ac.HPAScalingPolicy().WithType(autoscalingv2.PodsScalingPolicy).WithValue(2).WithPeriodSeconds(60))).
				WithScaleDown(autoscalingv2ac.HPAScalingRules().
					WithStabilizationWindowSeconds(300).
					WithPolicies(autoscalingv2ac.HPAScalingPolicy().WithType(autoscalingv2.PodsScalingPolicy).WithValue(1).WithPeriodSeconds(60)))))
}

func (r *Reconciler) pdb(app *platformv1.Application, name string) *policyv1ac.PodDisruptionBudgetApplyConfiguration {
	return policyv1ac.PodDisruptionBudget(name, app.Namespace).
		WithLabels(labels(app)).
		WithOwnerReferences(ownerReference(app)).
		WithSpec(policyv1ac.PodDisruptionBudgetSpec().
			WithMinAvailable(intstr.FromInt32(1)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(app))))
}
