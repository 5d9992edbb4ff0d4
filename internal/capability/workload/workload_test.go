package workload_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	"github.com/plattr/plattr/internal/capability/workload"
	"github.com/plattr/plattr/internal/naming"
)

func spec(needs ...workload.Need) workload.Spec {
	return workload.Spec{
		Name: "web", App: "web", Image: "registry/web:1", Port: 8080, HealthPath: "/healthz",
		Scaling:  platformv1.ScalingSpec{Min: 1, Max: 3, TargetCPU: 70},
		Selector: map[string]string{platformv1.LabelApp: "web"},
		Needs:    needs,
	}
}

func need(provided []capability.Source, lastGood []capability.Source, lastGoodErr error) workload.Need {
	return workload.Need{
		From: "database", Condition: platformv1.ConditionDatabaseReady, Reason: platformv1.ReasonWaitingForDatabase,
		What: "the database", Provided: provided,
		LastGood: func(context.Context) ([]capability.Source, error) { return lastGood, lastGoodErr },
	}
}

var dbSecret = []capability.Source{{From: "database", Kind: capability.KindSecret, Name: "web-db", Data: map[string][]byte{"DATABASE_URL": []byte("postgres://x")}}}

func TestEnsureDecisions(t *testing.T) {
	tests := []struct {
		name       string
		spec       workload.Spec
		dbDown     bool // DatabaseReady False before the workload runs
		wantReason string
		wantUp     bool
		wantWait   bool
		wantErr    bool
		wantEnv    []string // envFrom of the app container
	}{
		{name: "no image waits for the user", spec: func() workload.Spec { s := spec(); s.Image = ""; return s }(),
			wantReason: platformv1.ReasonImageMissing, wantWait: true},
		{name: "a capability not provided yet holds the workload back", spec: spec(need(nil, nil, nil)),
			wantReason: platformv1.ReasonWaitingForDatabase},
		{name: "a capability provided now is the pods' environment", spec: spec(need(dbSecret, nil, nil)),
			wantReason: platformv1.ReasonRollingOut, wantUp: true, wantEnv: []string{"web-db"}},
		{name: "a capability down keeps the configuration provisioned before", spec: spec(need(nil, dbSecret, nil)), dbDown: true,
			wantReason: platformv1.ReasonRollingOut, wantUp: true, wantEnv: []string{"web-db"}},
		{name: "reading the last configuration fails", spec: spec(need(nil, nil, errors.New("api down"))),
			wantReason: "", wantErr: true},
		{name: "an envVar's Secret missing names the field and the fix",
			spec: func() workload.Spec {
				s := spec()
				s.EnvVars = []platformv1.EnvVar{{Name: "TOKEN", SecretKeyRef: &platformv1.SecretKeySelector{Name: "tokens", Key: "t"}}}
				return s
			}(),
			wantReason: platformv1.ReasonSecretMissing, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := capabilitytest.App("shop", "web")
			if tt.dbDown {
				capability.SetCondition(app, platformv1.ConditionDatabaseReady, metav1.ConditionFalse, platformv1.ReasonDatabaseUnavailable, "PostgreSQL: down")
			}
			env := capabilitytest.NewEnv(t)
			c := &workload.Capability{Kube: env.Kube}
			res, err := c.Ensure(context.Background(), capabilitytest.Target(app), tt.spec)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if res.Up != tt.wantUp || res.Waiting != tt.wantWait {
				t.Errorf("result %+v, want up %v waiting %v", res, tt.wantUp, tt.wantWait)
			}
			if tt.wantReason != "" {
				cond := capabilitytest.Condition(t, app, platformv1.ConditionDeploymentReady)
				if cond.Reason != tt.wantReason {
					t.Errorf("DeploymentReady %s (%s), want %s", cond.Reason, cond.Message, tt.wantReason)
				}
				if cond.Message == "" {
					t.Errorf("DeploymentReady %s has no message", cond.Reason)
				}
			}
			d := &appsv1.Deployment{}
			getErr := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "web"}, d)
			if !tt.wantUp {
				if getErr == nil {
					t.Errorf("a Deployment was written although the workload is not up")
				}
				return
			}
			if getErr != nil {
				t.Fatal(getErr)
			}
			var envFrom []string
			for _, e := range d.Spec.Template.Spec.Containers[0].EnvFrom {
				envFrom = append(envFrom, e.SecretRef.Name)
			}
			if len(envFrom) != len(tt.wantEnv) || (len(envFrom) > 0 && envFrom[0] != tt.wantEnv[0]) {
				t.Errorf("envFrom %v, want %v", envFrom, tt.wantEnv)
			}
			if tt.dbDown {
				if cond := capabilitytest.Condition(t, app, platformv1.ConditionDatabaseReady); cond.Status != metav1.ConditionFalse ||
					cond.Message == "PostgreSQL: down" {
					t.Errorf("DatabaseReady does not say the workload kept the last configuration: %s", cond.Message)
				}
			}
		})
	}
}

// A rollout past its progress deadline fails at once, with the pods' reason.
func TestProgressDeadlineIsTerminal(t *testing.T) {
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", Labels: map[string]string{platformv1.LabelApp: "web"}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "no such image"}}}}},
	})
	c := &workload.Capability{Kube: env.Kube}
	ctx := context.Background()
	if _, err := c.Ensure(ctx, capabilitytest.Target(app), spec()); err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, d); err != nil {
		t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Conditions: []appsv1.DeploymentCondition{{
		Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet web-1 has timed out progressing."}}}
	if err := env.Client.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	_, err := c.Ensure(ctx, capabilitytest.Target(app), spec())
	if !capability.IsTerminal(err) {
		t.Fatalf("error %v is not terminal", err)
	}
	cond := capabilitytest.Condition(t, app, platformv1.ConditionDeploymentReady)
	if cond.Reason != platformv1.ReasonProgressDeadlineExceeded || !strings.Contains(cond.Message, "ImagePullBackOff") {
		t.Errorf("DeploymentReady %s: %s; want ProgressDeadlineExceeded naming ImagePullBackOff", cond.Reason, cond.Message)
	}
}

// A second Ensure of the same spec writes nothing.
func TestNoOpWritesNothing(t *testing.T) {
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t)
	c := &workload.Capability{Kube: env.Kube}
	ctx := context.Background()
	s := spec(need(dbSecret, nil, nil))
	s.Scaling.Min = 2 // with a PDB
	s.PostgREST = &workload.PostgREST{Secret: "web-db", Names: naming.Database{Schema: "s", AppRole: "r", AnonRole: "a", Channel: "c"}}
	if _, err := c.Ensure(ctx, capabilitytest.Target(app), s); err != nil {
		t.Fatal(err)
	}
	first := env.Writes()
	if _, err := c.Ensure(ctx, capabilitytest.Target(app), s); err != nil {
		t.Fatal(err)
	}
	if env.Writes() != first {
		t.Errorf("the second Ensure wrote %d times, want 0 (first: %d)", env.Writes()-first, first)
	}
}

// Pods in another namespace than the Secrets their envVars reference (a
// preview's) get copies beside them; the copy goes when the reference does.
func TestEnvVarSecretsAreCopiedAcrossNamespaces(t *testing.T) {
	ctx := context.Background()
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "tokens"}, Data: map[string][]byte{"t": []byte("s3cr3t")}})
	c := &workload.Capability{Kube: env.Kube}
	target := capabilitytest.Target(app)
	target.Namespace = "preview-web-pr-1"
	s := spec()
	s.SecretsNamespace = "shop"
	s.EnvVars = []platformv1.EnvVar{{Name: "TOKEN", SecretKeyRef: &platformv1.SecretKeySelector{Name: "tokens", Key: "t"}}}
	if _, err := c.Ensure(ctx, target, s); err != nil {
		t.Fatal(err)
	}
	copied := &corev1.Secret{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "preview-web-pr-1", Name: "web-env"}, copied); err != nil {
		t.Fatalf("no copy beside the pods: %v", err)
	}
	if string(copied.Data["TOKEN"]) != "s3cr3t" {
		t.Errorf("copy holds %v", copied.Data)
	}
	d := &appsv1.Deployment{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "preview-web-pr-1", Name: "web"}, d); err != nil {
		t.Fatal(err)
	}
	var ref *corev1.SecretKeySelector
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "TOKEN" && e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil || ref.Name != "web-env" || ref.Key != "TOKEN" {
		t.Errorf("TOKEN references %+v, want web-env/TOKEN", ref)
	}

	s.EnvVars = nil
	if _, err := c.Ensure(ctx, target, s); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "preview-web-pr-1", Name: "web-env"}, &corev1.Secret{}); err == nil {
		t.Error("the copy stayed after the reference was removed")
	}
}

// A new Deployment is "rolling out" in one message from its creation until
// it is available: the reconcile that creates it (before the cache has it)
// and the one its first events bring (not observed yet, then pods on their
// way) set the same condition, so the owner's status is written once, not
// per step (a status write per app of a burst, found by bench-scale).
func TestNewDeploymentRollsOutInOneMessage(t *testing.T) {
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t)
	lagging := true // the operator's cache has not seen the new Deployment yet
	kube := env.Kube
	kube.Client = interceptor.NewClient(env.Client.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*appsv1.Deployment); ok && lagging {
				return apierrors.NewNotFound(appsv1.Resource("deployments"), key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	c := &workload.Capability{Kube: kube}
	ctx := context.Background()
	s := spec(need(dbSecret, nil, nil))
	s.Scaling.Min = 2
	message := func() string {
		t.Helper()
		if _, err := c.Ensure(ctx, capabilitytest.Target(app), s); err != nil {
			t.Fatal(err)
		}
		cond := capabilitytest.Condition(t, app, platformv1.ConditionDeploymentReady)
		if cond.Reason != platformv1.ReasonRollingOut {
			t.Fatalf("DeploymentReady %s: %s, want %s", cond.Reason, cond.Message, platformv1.ReasonRollingOut)
		}
		return cond.Message
	}
	created := message()
	lagging = false
	d := &appsv1.Deployment{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "web"}, d); err != nil {
		t.Fatal(err)
	}
	setReplicas := func(n int32) {
		t.Helper()
		d.Spec.Replicas = ptr.To(n)
		if err := env.Client.Update(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	setReplicas(1) // the cache's first copy: created, not scaled to scaling.min yet
	seen := message()
	setReplicas(2) // the scale patch seen, not observed by its controller yet
	scaled := message()
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1}
	if err := env.Client.Status().Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	onePod := message()
	if created != seen || seen != scaled || scaled != onePod {
		t.Errorf("DeploymentReady's message changed while rolling out: %q, then %q, %q, %q", created, seen, scaled, onePod)
	}
}
