package kube_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/plattr/plattr/internal/testenv"
)

// TestDeploymentBecomesAvailable proves the local control plane is a real
// one: a Deployment's pods are scheduled onto a simulated node and turn
// Ready, so the Deployment becomes Available.
func TestDeploymentBecomesAvailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	cluster, err := testenv.StartCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	t.Logf("control plane up in %s", time.Since(start).Round(time.Millisecond))

	cs := kubernetes.NewForConfigOrDie(cluster.Config)
	labels := map[string]string{"app": "probe"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/probe:1"}}},
			},
		},
	}
	applied := time.Now()
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := cs.AppsV1().Deployments("default").Get(ctx, "probe", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.AvailableReplicas == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Deployment not Available: %+v", got.Status)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("Deployment Available %s after create", time.Since(applied).Round(time.Millisecond))
	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=probe"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: node %q phase %s, want scheduled and Running", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}
	checkNodeLeases(ctx, t, cs)

	// Pod logs come through the API server and the simulated kubelet.
	logs, err := cs.CoreV1().Pods("default").GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{Container: "c"}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("pod logs: %v", err)
	}
	if !strings.Contains(string(logs), "simulated container log") {
		t.Errorf("pod logs %q", logs)
	}
}

// checkNodeLeases guards the heartbeat: without a node Lease the node
// lifecycle controller marks a node NotReady after its grace period (50 s)
// and its pods lose Ready for good, so any app older than a minute would
// stop being Running.
func checkNodeLeases(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v (%d)", err, len(nodes.Items))
	}
	for _, n := range nodes.Items {
		for {
			lease, err := cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, n.Name, metav1.GetOptions{})
			if err == nil && lease.Spec.RenewTime != nil {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("node %s has no renewed Lease: %v", n.Name, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}
