package workload

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/capability"
)

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
	return true, "the rollout is complete; replicas are being added or replaced"
}

// podProblems says why the owner's pods are not ready, from their own
// status: a scheduling failure, a container waiting (ImagePullBackOff,
// CrashLoopBackOff) or terminated with an error.
func (c *Capability) podProblems(ctx context.Context, t capability.Target, selector map[string]string) string {
	pods := &corev1.PodList{}
	if err := c.APIReader.List(ctx, pods, client.InNamespace(t.Namespace), client.MatchingLabels(selector)); err != nil {
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
		return "none reports a reason; see kubectl describe pods -n " + t.Namespace + " -l " + labelSelector(selector)
	}
	return strings.Join(out, "; ")
}

func labelSelector(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
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
		return false, rollingOut()
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
		return false, rollingOut()
	}
	// No counts here either: the HPA changing the replicas of a running
	// app is no status write.
	return true, "the current version's replicas are available"
}

// Rollout is all the workload capability reads from a Deployment's status,
// as verdicts: a Deployment update that leaves it unchanged — a pod of a
// rollout in progress turning ready, the controller observing a scale —
// cannot change what a reconcile writes, so it reconciles nothing
// (predicates.DeploymentChanged).
type Rollout struct {
	Available, Complete, Stalled bool
	StalledMessage               string
}

// RolloutOf is d's Rollout.
func RolloutOf(d *appsv1.Deployment) Rollout {
	var r Rollout
	r.Available, _ = deploymentAvailable(d)
	r.Complete, _ = rolloutComplete(d)
	r.Stalled, r.StalledMessage = progressDeadlineExceeded(d)
	return r
}

// rollingOut is DeploymentReady's message from the Deployment's creation
// until it is available: one message, with no count, so none of the steps
// between is a status write — the cache seeing the new Deployment, its
// replicas going from the default 1 to scaling.min (the scale patch), its
// controller observing it, each pod turning ready.
func rollingOut() string {
	return "rolling out: waiting for the current version's replicas to be available"
}
