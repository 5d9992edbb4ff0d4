// Package workload is the workload capability: the ServiceAccount,
// Deployment (with the PostgREST sidecar when the owner has a database),
// Service, HorizontalPodAutoscaler and PodDisruptionBudget that run the
// owner's image with the environment its other capabilities provide, and
// the DeploymentReady condition that says whether it runs.
package workload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/naming"
)

// Capability runs workloads.
type Capability struct {
	capability.Kube
	// ProgressDeadline is the Deployment's progressDeadlineSeconds: a
	// rollout stuck that long fails the owner with the pods' reason.
	ProgressDeadline time.Duration
}

// Spec is the workload one owner asks for.
type Spec struct {
	// Name of every workload object (Deployment, Service, ServiceAccount, HPA, PDB).
	Name string
	// App is the Application whose envVars these are (a preview's parent):
	// they may read only its Secrets, the namespace's unowned ones and those
	// shared with it (see notAllowed).
	App string
	// Image to run; empty waits for the user (ImageMissing).
	Image      string
	Port       int32
	HealthPath string
	Scaling    platformv1.ScalingSpec
	EnvVars    []platformv1.EnvVar
	// SecretsNamespace is where envVars' secretKeyRefs are read ("": the
	// target's namespace). A preview runs in its own namespace, where its
	// parent's Secrets are not: their values are copied to <Name>-env there.
	SecretsNamespace string
	// Selector selects the pods; it never changes (a Deployment's selector
	// is immutable).
	Selector map[string]string
	// PostgREST, when set, adds the PostgREST sidecar serving this schema.
	PostgREST *PostgREST
	// Needs are the capabilities the pods take their environment from, in
	// the order of their envFrom.
	Needs []Need
	// Messaging, when set, mounts a NATS creds Secret and sets NATS_URL and
	// NATS_CREDS.
	Messaging *Messaging
}

// Messaging is the app's NATS connection: its creds Secret is mounted as a
// directory (no subPath, so a rotated file reaches running pods without a
// restart, and the config hash does not include it).
type Messaging struct {
	URL    string
	Secret string
}

// PostgREST is what the sidecar is told: the very schema and roles the
// database capability created, and the Secret with its URL.
type PostgREST struct {
	Secret string
	Names  naming.Database
}

// Need is one capability the workload depends on.
type Need struct {
	From      string // the capability's name
	Condition string // its condition type
	Reason    string // DeploymentReady's reason while waiting for it
	What      string // "the database to be provisioned (see DatabaseReady)"
	// Provided is what the capability wrote this reconcile; nil if it failed.
	Provided []capability.Source
	// LastGood reads what it wrote before, for when it failed this time.
	LastGood func(context.Context) ([]capability.Source, error)
}

// Result is what Ensure observed.
type Result struct {
	// Up: the Deployment and Service exist, so routes can point at them.
	Up bool
	// Waiting: the owner needs the user (no image).
	Waiting bool
	// Deployment as last read, when Up.
	Deployment *appsv1.Deployment
}

// Ensure applies the workload and sets DeploymentReady. A rollout past its
// progress deadline returns a capability.Terminal error. settled (from the
// Target) keeps a complete rollout Available while the HPA adds pods or
// one is replaced.
func (c *Capability) Ensure(ctx context.Context, t capability.Target, spec Spec) (Result, error) {
	if spec.Image == "" {
		t.SetCondition(platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonImageMissing,
			"spec.imageRef is empty: set it to the image to run (plattr deploy --image …)")
		return Result{Waiting: true}, nil
	}
	sources, ready, err := c.gather(ctx, t, spec.Needs)
	if err != nil || !ready {
		return Result{}, err
	}
	vars, err := c.resolveEnvVars(ctx, t, spec)
	if err != nil {
		t.SetCondition(platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonSecretMissing, err.Error())
		return Result{}, err
	}
	env, hashInputs := vars.env, vars.digests
	for _, src := range sources {
		hashInputs = append(hashInputs, secretDigest(src.Key(), src.Data))
	}
	name := spec.Name
	// Two rounds of applies, each in parallel: what the pods need before
	// they can be created (the envVars' copies, the ServiceAccount), then
	// the rest, which nothing orders. A new app's reconcile waited for
	// each of its six writes in turn, most of a burst's time (make
	// bench-scale).
	first := []step{
		{"Secret", func() error { return c.ensureCopies(ctx, t, spec, vars) }},
		{"ServiceAccount", func() error {
			return capability.Apply(ctx, c.Kube, t, &corev1.ServiceAccount{}, serviceAccount(t, name), corev1ac.ExtractServiceAccount)
		}},
	}
	then := []step{
		{"Deployment", func() error {
			desired := deployment(t, spec, env, sources, configHash(hashInputs), c.ProgressDeadline)
			created, err := c.createDeployment(ctx, t, desired, spec.Scaling.Min)
			if err != nil || created {
				return err
			}
			return capability.Apply(ctx, c.Kube, t, &appsv1.Deployment{}, desired, appsv1ac.ExtractDeployment)
		}},
		{"Service", func() error {
			return capability.Apply(ctx, c.Kube, t, &corev1.Service{}, service(t, spec), corev1ac.ExtractService)
		}},
		{"HorizontalPodAutoscaler", func() error {
			return capability.Apply(ctx, c.Kube, t, &autoscalingv2.HorizontalPodAutoscaler{}, hpa(t, name, spec.Scaling), autoscalingv2ac.ExtractHorizontalPodAutoscaler)
		}},
		{"PodDisruptionBudget", func() error {
			if spec.Scaling.Min < 2 {
				// With one pod a PDB of minAvailable 1 would block every drain.
				return c.Delete(ctx, t, &policyv1.PodDisruptionBudget{}, name)
			}
			return capability.Apply(ctx, c.Kube, t, &policyv1.PodDisruptionBudget{}, pdb(t, spec), policyv1ac.ExtractPodDisruptionBudget)
		}},
	}
	for _, round := range [][]step{first, then} {
		if what, err := applyAll(round); err != nil {
			t.SetCondition(platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonApplyFailed,
				fmt.Sprintf("applying %s %s: %v", what, name, err))
			return Result{}, err
		}
	}
	if len(vars.refused) > 0 {
		// Applied without the refused variables, so pods (or a preview's
		// copy) from before this check lose them too; retrying the same
		// spec cannot help, and the Secret's watch brings a new opt-in.
		msg := strings.Join(vars.refused, "; ")
		t.SetCondition(platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonSecretNotAllowed, msg)
		return Result{Up: true}, capability.Terminal(errors.New(msg))
	}

	d := &appsv1.Deployment{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: name}, d); err != nil {
		if apierrors.IsNotFound(err) {
			// Just created: the cache has not seen it yet. The message
			// the next reconcile writes, so that one writes no status.
			t.SetCondition(platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonRollingOut, rollingOut())
			return Result{Up: true}, nil
		}
		return Result{Up: true}, err
	}
	res := Result{Up: true, Deployment: d}
	if stalled, msg := progressDeadlineExceeded(d); stalled {
		// Retrying will not help: the pods need a fix (image, app, room in
		// the cluster). Failed at once, with the pods' own reason.
		msg = fmt.Sprintf("%s; pods: %s. Fix the cause (spec.imageRef, the app, or room in the cluster) and deploy again",
			msg, c.podProblems(ctx, t, spec.Selector))
		t.SetCondition(platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonProgressDeadlineExceeded, msg)
		return res, capability.Terminal(errors.New(msg))
	}
	available, msg := deploymentAvailable(d)
	if available {
		t.SetCondition(platformv1.ConditionDeploymentReady, metav1.ConditionTrue, platformv1.ReasonAvailable, msg)
	} else if ok, complete := rolloutComplete(d); ok && t.Settled {
		// Running at this generation and every pod runs the current
		// template: the HPA adding pods or an eviction replacing one is not
		// a new rollout, so the owner stays Running. (A scale change the
		// Deployment controller has not observed yet counts as complete:
		// the owner's spec did not change.)
		t.SetCondition(platformv1.ConditionDeploymentReady, metav1.ConditionTrue, platformv1.ReasonAvailable, complete)
	} else {
		// The availability message: rolloutComplete's is empty when the
		// rollout is not complete (found by plattr deploy printing an empty
		// reason).
		t.SetCondition(platformv1.ConditionDeploymentReady, metav1.ConditionFalse, platformv1.ReasonRollingOut, msg)
	}
	return res, nil
}

// step is one apply of Ensure.
type step struct {
	what  string
	apply func() error
}

// applyAll runs the steps at once and returns the first failure in their
// order, so the condition names the same step whatever finished first.
func applyAll(steps []step) (string, error) {
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps {
		wg.Go(func() { errs[i] = s.apply() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return steps[i].what, err
		}
	}
	return "", nil
}

// gather collects the Sources of every need. Pods cannot start without the
// objects they take their environment from, so the workload waits for each
// — unless the capability failed this time but was provisioned before: its
// objects still hold a working configuration, which the workload keeps, so
// an outage of one backend does not stop a new image from rolling out.
func (c *Capability) gather(ctx context.Context, t capability.Target, needs []Need) ([]capability.Source, bool, error) {
	var sources []capability.Source
	for _, n := range needs {
		if n.Provided != nil {
			sources = append(sources, n.Provided...)
			continue
		}
		last, err := n.LastGood(ctx)
		if err != nil {
			return nil, false, err
		}
		if last == nil {
			t.SetCondition(platformv1.ConditionDeploymentReady, metav1.ConditionFalse, n.Reason, "waiting for "+n.What)
			return nil, false, nil
		}
		sources = append(sources, last...)
		if cond := capability.Condition(t.Owner, n.Condition); cond != nil && cond.Status != metav1.ConditionTrue {
			t.SetCondition(n.Condition, cond.Status, cond.Reason, cond.Message+"; meanwhile the workload keeps the configuration provisioned before")
		}
	}
	return sources, true, nil
}

// createDeployment creates a missing Deployment with server-side apply under
// Plattr's one field manager, then sets scaling.min replicas through the
// scale subresource — the way the HPA sets them — so no apply of Plattr
// ever owns spec.replicas and nothing fights the autoscaler. (Creating it
// with a plain create under a second manager, as earlier versions did,
// made that manager co-own every field, so fields the spec dropped stayed.)
// A crash between the two calls leaves one replica, which the HPA raises
// to its minimum.
func (c *Capability) createDeployment(ctx context.Context, t capability.Target, desired *appsv1ac.DeploymentApplyConfiguration, replicas int32) (bool, error) {
	key := client.ObjectKey{Namespace: *desired.Namespace, Name: *desired.Name}
	live := &appsv1.Deployment{}
	err := c.Client.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		err = c.APIReader.Get(ctx, key, live)
	}
	if err == nil {
		return false, c.dropLegacyCreateManager(ctx, live)
	}
	if !apierrors.IsNotFound(err) {
		return false, err
	}
	if err := c.Client.Apply(ctx, desired, client.FieldOwner(capability.FieldManager), client.ForceOwnership); err != nil {
		return false, err
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	scale := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas))
	if err := c.Client.SubResource("scale").Patch(ctx, d, scale, client.FieldOwner(InitialReplicasManager),
		&client.SubResourcePatchOptions{SubResourceBody: &autoscalingv1.Scale{}}); err != nil {
		return false, fmt.Errorf("setting the initial %d replicas: %w", replicas, err)
	}
	if t.Settled {
		c.Event(t, corev1.EventTypeWarning, platformv1.EventRestored, "Restore",
			"Deployment %s was deleted outside Plattr and has been recreated", key.Name)
	}
	return true, nil
}

// InitialReplicasManager sets a new Deployment's replicas once; the HPA
// takes them over from there.
const InitialReplicasManager = "plattr-initial-replicas"

// LegacyCreateManager is the field manager earlier versions created
// Deployments with. It co-owned every field, so a field the spec dropped
// stayed in the Deployment; its entry is removed, leaving the fields to
// Plattr's apply (and spec.replicas to the HPA).
const LegacyCreateManager = "plattr-create"

func (c *Capability) dropLegacyCreateManager(ctx context.Context, d *appsv1.Deployment) error {
	has := func(mf metav1.ManagedFieldsEntry) bool { return mf.Manager == LegacyCreateManager }
	if !slices.ContainsFunc(d.ManagedFields, has) {
		return nil
	}
	// The cache keeps only Plattr's entries; the patch needs the index on
	// the server.
	live := &appsv1.Deployment{}
	if err := c.APIReader.Get(ctx, client.ObjectKeyFromObject(d), live); err != nil {
		return err
	}
	i := slices.IndexFunc(live.ManagedFields, has)
	if i < 0 {
		return nil
	}
	// "test" guards against the list having changed since it was read.
	patch := fmt.Appendf(nil, `[{"op":"test","path":"/metadata/managedFields/%d/manager","value":%q},{"op":"remove","path":"/metadata/managedFields/%d"}]`,
		i, LegacyCreateManager, i)
	return c.Client.Patch(ctx, live, client.RawPatch(types.JSONPatchType, patch))
}
