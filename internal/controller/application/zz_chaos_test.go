package application_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/testenv"
)

// The chaos test SIGKILLs the operator — the real binary, in its own
// process — at random points while apps are created, edited (envVars),
// rotated (credentials Secret deleted) and deleted. Once it has converged,
// every Secret's credentials must work, and nothing may be duplicated or
// left behind in PostgreSQL, the object store or Dex.
//
// The short version runs with the suite; `make chaos` runs the long one
// (PLATTR_CHAOS_APPS=200 PLATTR_CHAOS_KILLS=20).
//
// The file's name puts it last among the serial tests (Go runs them in file
// order): the ~20 apps it leaves would otherwise be resynced on every later
// operator restart, which made each restarting test wait behind them
// (TestSharedKeysAreRefusedUnlessThePlatformOptsIn: 2 s alone, 35-46 s
// after this test).
func TestChaosOperatorKilledAtRandomPointsConverges(t *testing.T) {
	apps := envInt("PLATTR_CHAOS_APPS", 30)
	kills := envInt("PLATTR_CHAOS_KILLS", 6)
	ctx := context.Background()
	stopOperator() // the in-process operator; this test runs the binary
	op := newOperatorProcess(t)
	op.start(t)
	defer op.stop()

	ns := newNamespace(t)
	kind := func(i int) []func(*platformv1.Application) {
		switch i % 3 {
		case 1:
			return []func(*platformv1.Application){withBuckets(platformv1.BucketSpec{Name: "files"}), withDatabase}
		case 2:
			return []func(*platformv1.Application){withAuth(), withDatabase}
		}
		return nil
	}
	name := func(i int) string { return fmt.Sprintf("chaos-%d", i) }

	// The monkey: kill at random moments, restart at once, until told.
	var killed atomic.Int32
	done := make(chan struct{})
	var monkey sync.WaitGroup
	monkey.Go(func() {
		for int(killed.Load()) < kills {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(300+rand.IntN(2500)) * time.Millisecond):
			}
			op.kill(t)
			killed.Add(1)
			op.start(t)
		}
	})

	// The users: create everything, then edit, rotate and delete at random.
	for i := range apps {
		create(t, newApp(ns, name(i), kind(i)...))
		time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
	}
	deleted := map[int]bool{}
	for step := range apps * 2 {
		i := rand.IntN(apps)
		if deleted[i] {
			continue
		}
		key := client.ObjectKey{Namespace: ns, Name: name(i)}
		switch step % 4 {
		case 0, 1:
			if err := tryUpdate(key, &platformv1.Application{}, func(a *platformv1.Application) {
				a.Spec.EnvVars = []platformv1.EnvVar{{Name: "STEP", Value: strconv.Itoa(step)}}
			}); err != nil {
				t.Fatal(err)
			}
		case 2:
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name(i) + "-db"}}
			if err := k8s.Delete(ctx, secret); client.IgnoreNotFound(err) != nil {
				t.Fatal(err)
			}
		case 3:
			if i%4 == 0 { // about a quarter of the apps go
				deleteApp(t, ns, name(i))
				deleted[i] = true
			}
		}
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
	}
	for int(killed.Load()) < kills {
		time.Sleep(100 * time.Millisecond)
	}
	close(done)
	monkey.Wait()
	t.Logf("SIGKILLed the operator %d times during %d apps' creation, edits, rotations and deletions", killed.Load(), apps)

	// Converged: every app that stays is Running at its generation, every
	// deleted one is gone.
	for i := range apps {
		if deleted[i] {
			waitGone(t, ns, name(i))
		} else {
			waitSettled(t, ns, name(i))
		}
	}

	// Every credential works.
	for i := range apps {
		if deleted[i] {
			continue
		}
		data := secretData(t, ns, name(i)+"-db")
		conn, err := pgx.Connect(ctx, string(data[platformv1.KeyDatabaseURL]))
		if err != nil {
			t.Errorf("%s: DATABASE_URL does not work: %v", name(i), err)
			continue
		}
		_ = conn.Close(ctx)
		switch i % 3 {
		case 1:
			// A key write from a killed operator can land after its
			// successor's; the drift sweep (every second here) sets the
			// Secret's key back, so the keys work within a few sweeps.
			bucket := configMapData(t, ns, name(i)+"-storage")["S3_BUCKET_FILES"]
			err := putObject(s3As(t, ns, name(i)), bucket, "chaos")
			for deadline := time.Now().Add(15 * time.Second); err != nil && time.Now().Before(deadline); {
				time.Sleep(500 * time.Millisecond)
				err = putObject(s3As(t, ns, name(i)), bucket, "chaos")
			}
			if err != nil {
				t.Errorf("%s: the storage keys do not work: %v (%s)", name(i), err, storeUserDiagnosis(t, ns, name(i)))
			}
		case 2:
			if _, err := passwordToken(t, ns, name(i)); err != nil {
				t.Errorf("%s: the OIDC client does not work: %v", name(i), err)
			}
		}
	}

	// Nothing duplicated or left behind.
	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for i := range apps {
		want := 1
		if deleted[i] {
			want = 0
		}
		marker := "plattr:app=" + ns + "/" + name(i)
		var schemas, roles int
		if err := admin.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM pg_namespace WHERE obj_description(oid, 'pg_namespace') = $1),
  (SELECT count(*) FROM pg_roles WHERE shobj_description(oid, 'pg_authid') = $1)`, marker).Scan(&schemas, &roles); err != nil {
			t.Fatal(err)
		}
		if schemas != want || roles != 2*want {
			t.Errorf("%s (deleted %v): %d schemas and %d roles in PostgreSQL, want %d and %d", name(i), deleted[i], schemas, roles, want, 2*want)
		}
		// The ownership records survive the restarts and go with the objects.
		var records int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM plattr_operator.owners WHERE namespace = $1 AND app = $2", ns, name(i)).Scan(&records); err != nil {
			t.Fatal(err)
		}
		if records != 3*want {
			t.Errorf("%s (deleted %v): %d ownership records, want %d", name(i), deleted[i], records, 3*want)
		}
	}
	buckets, err := s3As(t, "", "").ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]int{}
	for _, b := range buckets {
		if strings.HasPrefix(b.Name, "plattr-staging-chaos-") {
			counted[b.Name]++
		}
	}
	for i := range apps {
		bucket := "plattr-staging-" + name(i) + "-files"
		want := 0
		if i%3 == 1 && !deleted[i] {
			want = 1
		}
		if counted[bucket] != want {
			t.Errorf("%s (deleted %v): bucket %s exists %d times, want %d", name(i), deleted[i], bucket, counted[bucket], want)
		}
	}
	clients := &unstructured.UnstructuredList{}
	clients.SetAPIVersion("dex.coreos.com/v1")
	clients.SetKind("OAuth2ClientList")
	if err := k8s.List(ctx, clients, client.InNamespace(dexNamespace)); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, c := range clients.Items {
		id, _, _ := unstructured.NestedString(c.Object, "id")
		ids[id]++
	}
	for i := range apps {
		want := 0
		if i%3 == 2 && !deleted[i] {
			want = 1
		}
		if got := ids["staging-"+name(i)]; got != want {
			t.Errorf("%s (deleted %v): %d Dex clients, want %d", name(i), deleted[i], got, want)
		}
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// operatorProcess runs bin/plattr-operator built from this tree, configured
// like the in-process operator of the other tests.
type operatorProcess struct {
	bin string
	log *os.File
	cmd *exec.Cmd
}

func newOperatorProcess(t *testing.T) *operatorProcess {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "plattr-operator")
	build := exec.Command("go", "build", "-o", bin, "./cmd/operator")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the operator: %v\n%s", err, out)
	}
	log, err := os.Create(filepath.Join(t.TempDir(), "operator.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("operator log (last 4 kB):\n%s", tail(string(b), 4096))
			// The reconcile errors, which the tail may not reach: they say
			// why an app did not converge.
			var errs []string
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, "Reconciler error") {
					errs = append(errs, tail(line, 600))
				}
			}
			t.Logf("last reconcile errors:\n%s", strings.Join(errs[max(0, len(errs)-15):], "\n"))
		}
	})
	return &operatorProcess{bin: bin, log: log}
}

func (p *operatorProcess) start(t *testing.T) {
	t.Helper()
	c := operatorConfig()
	p.cmd = exec.Command(p.bin)
	p.cmd.Env = append(os.Environ(),
		"KUBECONFIG="+cluster.Plane.Kubeconfig(),
		"DB_ADMIN_URL="+c.DBAdminURL, "BASE_DOMAIN="+c.BaseDomain, "METRICS_ADDR="+c.MetricsAddr,
		"S3_ENDPOINT="+c.S3.Endpoint, "S3_ACCESS_KEY_ID="+c.S3.AccessKey, "S3_SECRET_ACCESS_KEY="+c.S3.SecretKey,
		"S3_ADMIN_ENDPOINT="+c.S3.AdminEndpoint,
		"DEX_ISSUER_URL="+c.Auth.DexIssuer, "DEX_NAMESPACE="+c.Auth.DexNamespace,
		"DEX_SHARED_CONNECTORS="+strings.Join(c.Auth.DexSharedConnectors, ","),
		"RETRY_MAX_BACKOFF=5s", "DRIFT_CHECK_INTERVAL=1s")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (p *operatorProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func (p *operatorProcess) stop() {
	if p.cmd != nil && p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// storeUserDiagnosis compares the app's Secret with the key versitygw
// stored for its user (its IAM file), to tell a divergence between the
// Secret and the store from a store answering with a stale key.
func storeUserDiagnosis(t *testing.T, ns, app string) string {
	data := secretData(t, ns, app+"-storage")
	access, secret := string(data["AWS_ACCESS_KEY_ID"]), string(data["AWS_SECRET_ACCESS_KEY"])
	raw, err := os.ReadFile(filepath.Join(s3.Dir, "iam", "users.json"))
	if err != nil {
		return "cannot read versitygw's IAM file: " + err.Error()
	}
	var iam struct {
		AccessAccounts map[string]struct {
			Secret string `json:"secret"`
		} `json:"accessAccounts"`
	}
	if err := json.Unmarshal(raw, &iam); err != nil {
		return "cannot parse versitygw's IAM file: " + err.Error()
	}
	acc, ok := iam.AccessAccounts[access]
	switch {
	case !ok:
		return fmt.Sprintf("user %s is not in the store", access)
	case acc.Secret == secret:
		return fmt.Sprintf("the store's file holds the Secret's key for %s: the store answers with a stale key", access)
	default:
		return fmt.Sprintf("the store holds another key for %s than the Secret: the operator left them diverged", access)
	}
}
