package operator_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/operator"
	"github.com/plattr/plattr/internal/testenv"
)

var cluster *testenv.Cluster

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	var err error
	cluster, err = testenv.StartCluster(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cluster.Stop()
	os.Exit(code)
}

// TestLeaderElection runs two replicas: one holds the Lease with the
// configured timings, the other waits, and takes over when the first stops.
func TestLeaderElection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := client.New(cluster.Config, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Operator{
		// No app exists, so the database is never dialled.
		DBAdminURL: "postgres://nobody@127.0.0.1:1/none", BaseDomain: "x.test",
		LeaderElection: true, LeaseNamespace: "default", MetricsAddr: "0",
		MaxConcurrentReconciles: 1, KubeAPIQPS: 20, KubeAPIBurst: 40,
	}
	run := func() (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- operator.Run(ctx, cfg, cluster.Config, operator.Options{Restartable: true}) }()
		return cancel, done
	}
	holder := func() (string, error) {
		lease := &coordinationv1.Lease{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: operator.LeaderElectionID}, lease); err != nil {
			return "", err
		}
		if lease.Spec.LeaseDurationSeconds == nil || *lease.Spec.LeaseDurationSeconds != 15 {
			return "", fmt.Errorf("lease duration %v, want 15 s", lease.Spec.LeaseDurationSeconds)
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return "", fmt.Errorf("no holder")
		}
		return *lease.Spec.HolderIdentity, nil
	}
	waitHolder := func(not string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			h, err := holder()
			if err == nil && h != not {
				return h
			}
			if time.Now().After(deadline) {
				t.Fatalf("no new leader: holder %q, err %v", h, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	stopA, doneA := run()
	first := waitHolder("")
	stopB, doneB := run()
	defer func() { stopB(); <-doneB }()
	time.Sleep(6 * time.Second) // longer than the retry period
	if h, _ := holder(); h != first {
		t.Fatalf("leadership moved from %q to %q while the leader was healthy", first, h)
	}
	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("first replica: %v", err)
	}
	second := waitHolder(first)
	t.Logf("leadership moved from %s to %s", first, second)
}
