package nats

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/config"
	"github.com/plattr/plattr/internal/controller/kit"
	"github.com/plattr/plattr/internal/testenv"
)

const platformNS = "plattr-system"

// One control plane and one NATS server for the package.
var (
	cluster *testenv.Cluster
	server  *testenv.NATS
	k8s     client.Client
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	var err error
	if cluster, err = testenv.StartCluster(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "control plane:", err)
		os.Exit(1)
	}
	if server, err = testenv.StartNATS(ctx); err != nil {
		cluster.Stop()
		fmt.Fprintln(os.Stderr, "NATS:", err)
		os.Exit(1)
	}
	if k8s, err = client.New(cluster.Config, client.Options{Scheme: scheme.New()}); err == nil {
		err = setupPlatform(ctx)
	}
	cancel()
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, "setup:", err)
	}
	server.Stop()
	cluster.Stop()
	os.Exit(code)
}

// setupPlatform makes the platform namespace with the operator's keys, as
// the local stack (or a platform team, with an existing server) does.
func setupPlatform(ctx context.Context) error {
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformNS}}); err != nil {
		return err
	}
	for name, data := range map[string]map[string][]byte{
		DefaultOperatorSecret: {"seed": []byte(server.Keys.SigningKeySeed)},
		DefaultSystemSecret:   {platformv1.NatsCredsKey: []byte(server.Keys.SystemUserCreds)},
	} {
		if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: platformNS, Name: name}, Data: data}); err != nil {
			return err
		}
	}
	return nil
}

// operator is one run of the two controllers: stopping it and starting a
// new one is an operator restart (nothing survives but what is stored).
type operator struct {
	users  *UserReconciler
	cancel context.CancelFunc
	done   chan struct{}
}

func startOperator(t *testing.T, afterRevoke func() error) *operator {
	t.Helper()
	managed := labels.SelectorFromSet(labels.Set{platformv1.LabelManagedBy: platformv1.ManagedByValue})
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:  scheme.New(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {Label: managed}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	deps := kit.Deps{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("plattr-operator"),
		Config: config.Operator{RetryMaxBackoff: 5 * time.Second, PlatformNamespace: platformNS}}
	cfg := Config{URL: server.URL(), PlatformNamespace: platformNS}
	users := &UserReconciler{Deps: deps, NATS: cfg, afterRevoke: afterRevoke}
	if err := (&AccountReconciler{Deps: deps, NATS: cfg}).SetupWithManager(mgr, true); err != nil {
		t.Fatal(err)
	}
	if err := users.SetupWithManager(mgr, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	op := &operator{users: users, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(op.done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	return op
}

func (o *operator) stop() {
	o.cancel()
	<-o.done
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
