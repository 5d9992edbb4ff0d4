// Package stack runs Plattr's local stack for `plattr dev`: a Kubernetes
// control plane with simulated nodes, a PostgreSQL server, an object store
// (versitygw), an identity provider (Dex) and the operator, as background
// processes whose state lives in one directory.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/plattr/plattr/internal/crds"
	"github.com/plattr/plattr/internal/stack/dex"
	"github.com/plattr/plattr/internal/stack/kube"
	"github.com/plattr/plattr/internal/stack/postgres"
	"github.com/plattr/plattr/internal/stack/proc"
	"github.com/plattr/plattr/internal/stack/s3"
)

// DexNamespace holds Dex's custom resources (its clients) on the local stack.
const DexNamespace = "plattr-system"

// PlatformNamespace is the local stack's platform namespace (the
// operator's PLATFORM_NAMESPACE), where the upstream identity providers'
// credentials go; Dex's, so it exists once Dex runs.
const PlatformNamespace = "plattr-system"

// DevUserEmail is the local Dex's password user, for signing in to apps.
const DevUserEmail = "dev@plattr.localhost"

// BaseDomain is the domain apps get on the local stack.
const BaseDomain = "plattr.localhost"

// Dev is the local stack in one state directory.
type Dev struct {
	Dir    string // state: kube/, postgres/, operator.pid, …
	BinDir string // holds plattr-operator, k8s-v*/ and kwok-v*/
}

func (d *Dev) plane() (*kube.ControlPlane, error) {
	bins, err := kube.FindBinaries(d.BinDir)
	return &kube.ControlPlane{Dir: filepath.Join(d.Dir, "kube"), Bin: bins, Nodes: 2}, err
}

func (d *Dev) postgres() (*postgres.Server, error) {
	dir := filepath.Join(d.Dir, "postgres")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Port and password are chosen once and kept.
	port, err := remember(filepath.Join(d.Dir, "postgres.port"), func() (string, error) {
		p, err := proc.FreePort()
		return strconv.Itoa(p), err
	})
	if err != nil {
		return nil, err
	}
	password, err := remember(filepath.Join(d.Dir, "postgres.password"), func() (string, error) {
		b := make([]byte, 16)
		_, err := rand.Read(b)
		return hex.EncodeToString(b), err
	})
	if err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(port)
	return postgres.New(dir, n, password), nil
}

// port returns the port stored under name, picking a free one once.
func (d *Dev) port(name string) (int, error) {
	p, err := remember(filepath.Join(d.Dir, name+".port"), func() (string, error) {
		p, err := proc.FreePort()
		return strconv.Itoa(p), err
	})
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

func (d *Dev) metricsPort() (int, error) { return d.port("operator") }

// secret returns the random secret stored under name, made once.
func (d *Dev) secret(name string) (string, error) {
	return remember(filepath.Join(d.Dir, name), func() (string, error) {
		b := make([]byte, 16)
		_, err := rand.Read(b)
		return hex.EncodeToString(b), err
	})
}

func (d *Dev) objectStore() (*s3.Server, error) {
	port, err := d.port("s3")
	if err != nil {
		return nil, err
	}
	adminPort, err := d.port("s3-admin")
	if err != nil {
		return nil, err
	}
	secret, err := d.secret("s3.secret")
	if err != nil {
		return nil, err
	}
	return s3.New(d.BinDir, filepath.Join(d.Dir, "s3"), port, adminPort, "plattr-admin", secret)
}

func (d *Dev) dex(kubeconfig string) (*dex.Server, error) {
	port, err := d.port("dex")
	if err != nil {
		return nil, err
	}
	password, err := d.secret("dex.password")
	if err != nil {
		return nil, err
	}
	return dex.New(d.BinDir, filepath.Join(d.Dir, "dex"), port, kubeconfig, DexNamespace, DevUserEmail+":"+password)
}

func (d *Dev) operator(dbURL, kubeconfig string, metricsPort int, store *s3.Server, idp *dex.Server) *proc.Process {
	env := []string{
		"KUBECONFIG=" + kubeconfig,
		"DB_ADMIN_URL=" + dbURL,
		"BASE_DOMAIN=" + BaseDomain,
		"METRICS_ADDR=127.0.0.1:" + strconv.Itoa(metricsPort),
		"LEADER_ELECTION=false",
		// The upstream providers' credentials: examples/auth-providers-secret.yaml.
		"PLATFORM_NAMESPACE=" + PlatformNamespace,
	}
	env = append(env, d.natsEnv()...)
	if store != nil {
		env = append(env,
			"S3_ENDPOINT="+store.Endpoint(),
			"S3_ADMIN_ENDPOINT="+store.AdminEndpoint(),
			"S3_ACCESS_KEY_ID="+store.AccessKey,
			"S3_SECRET_ACCESS_KEY="+store.SecretKey,
		)
	}
	if idp != nil {
		env = append(env,
			"DEX_ISSUER_URL="+idp.Issuer(),
			"DEX_NAMESPACE="+DexNamespace,
			// The local password database, so developers can sign in to any app.
			"DEX_SHARED_CONNECTORS="+dex.LocalConnector,
		)
	}
	return &proc.Process{
		Name: "plattr-operator", Path: filepath.Join(d.BinDir, "plattr-operator"), Dir: d.Dir, Env: env,
	}
}

// remember returns the value stored in path, creating it with make once.
func remember(path string, make func() (string, error)) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	v, err := make()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return v, os.WriteFile(path, []byte(v+"\n"), 0o600)
}

// Up starts whatever is not running yet and returns once all are ready.
func (d *Dev) Up(ctx context.Context, out io.Writer) error {
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return err
	}
	step := func(what string, f func() error) error {
		start := time.Now()
		fmt.Fprintf(out, "  %-34s", what+"…")
		if err := f(); err != nil {
			fmt.Fprintln(out, "failed")
			return err
		}
		fmt.Fprintf(out, "ready (%s)\n", time.Since(start).Round(10*time.Millisecond))
		return nil
	}
	plane, err := d.plane()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(d.BinDir, "plattr-operator")); err != nil {
		return fmt.Errorf("plattr-operator not found next to plattr in %s: run `make build`", d.BinDir)
	}
	pg, err := d.postgres()
	if err != nil {
		return err
	}
	if err := step("Kubernetes control plane", func() error { return plane.Start(ctx) }); err != nil {
		return err
	}
	if err := step("Plattr CRDs", func() error {
		cfg, err := plane.RESTConfig()
		if err != nil {
			return err
		}
		return crds.Install(ctx, cfg)
	}); err != nil {
		return err
	}
	if err := step("PostgreSQL", func() error {
		if _, running := (&proc.Process{Name: "postgres", Dir: pg.Dir}).Running(); running {
			return nil
		}
		return pg.Start(ctx)
	}); err != nil {
		return err
	}
	store, err := d.objectStore()
	if err != nil {
		return err
	}
	if err := step("object store (versitygw)", func() error { return store.Start(ctx) }); err != nil {
		return err
	}
	idp, err := d.dex(plane.Kubeconfig())
	if err != nil {
		return err
	}
	if err := step("identity provider (Dex)", func() error { return idp.Start(ctx) }); err != nil {
		return err
	}
	if err := step("messaging (NATS)", func() error { return d.startMessaging(ctx, plane.Kubeconfig()) }); err != nil {
		return err
	}
	port, err := d.metricsPort()
	if err != nil {
		return err
	}
	op := d.operator(pg.URL(), plane.Kubeconfig(), port, store, idp)
	if err := step("Plattr operator", func() error {
		return startReady(ctx, op, fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
	}); err != nil {
		return err
	}
	if err := step("ApiAggregator public", func() error { return ensurePublicAggregator(ctx, plane.Kubeconfig()) }); err != nil {
		return err
	}
	if err := step("chart registry", func() error { return d.startRegistry(ctx, plane.Kubeconfig()) }); err != nil {
		return err
	}
	api, err := d.api(pg.URL(), plane.Kubeconfig(), idp)
	if err != nil {
		return err
	}
	return step("Plattr API", func() error {
		if err := d.registerAPIClient(ctx, plane.Kubeconfig(), idp); err != nil {
			return fmt.Errorf("registering the API at Dex: %w", err)
		}
		if err := d.startAPI(ctx, api); err != nil {
			return err
		}
		url, err := d.apiURL()
		if err != nil {
			return err
		}
		return d.ensureToken(ctx, api, url)
	})
}

// Down stops everything, newest first; purge also deletes the state.
func (d *Dev) Down(purge bool) error {
	var errs []error
	if api, err := d.api("", "", nil); err == nil {
		errs = append(errs, api.Stop(10*time.Second))
	}
	errs = append(errs, d.stopRegistry())
	errs = append(errs, d.operator("", "", 0, nil, nil).Stop(15*time.Second))
	if idp, err := d.dex(""); err == nil {
		errs = append(errs, idp.Stop())
	}
	errs = append(errs, d.stopMessaging())
	if store, err := d.objectStore(); err == nil {
		errs = append(errs, store.Stop())
	}
	if pg, err := d.postgres(); err == nil {
		errs = append(errs, pg.Stop())
		if purge {
			errs = append(errs, pg.Purge())
		}
	}
	plane, _ := d.plane()
	errs = append(errs, plane.Stop())
	if purge {
		errs = append(errs, os.RemoveAll(d.Dir))
	}
	return errors.Join(errs...)
}

// Status reports which processes run.
func (d *Dev) Status() map[string]bool {
	plane, _ := d.plane() // missing binaries only matter for starting
	out := plane.Status()
	_, out["postgres"] = (&proc.Process{Name: "postgres", Dir: filepath.Join(d.Dir, "postgres")}).Running()
	if store, err := d.objectStore(); err == nil {
		out["versitygw"] = store.Running()
	}
	if idp, err := d.dex(""); err == nil {
		out["dex"] = idp.Running()
	}
	if s, err := d.natsServer(); err == nil {
		out["nats-server"] = s.Running()
	}
	_, out["plattr-operator"] = d.operator("", "", 0, nil, nil).Running()
	out["plattr-registry"] = d.registryRunning()
	if api, err := d.api("", "", nil); err == nil {
		_, out["plattr-api"] = api.Running()
	}
	return out
}

// Env returns the variables a shell needs to use the stack, sorted.
func (d *Dev) Env() ([][2]string, error) {
	plane, _ := d.plane()
	pg, err := d.postgres()
	if err != nil {
		return nil, err
	}
	port, err := d.metricsPort()
	if err != nil {
		return nil, err
	}
	store, err := d.objectStore()
	if err != nil {
		return nil, err
	}
	idp, err := d.dex(plane.Kubeconfig())
	if err != nil {
		return nil, err
	}
	devPassword, err := d.secret("dex.password")
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(d.Dir)
	if err != nil {
		return nil, err
	}
	env := [][2]string{
		// plattr finds the local stack (doctor, dev status) from any directory.
		{"PLATTR_DEV_DIR", dir},
		{"KUBECONFIG", plane.Kubeconfig()},
		{"DB_ADMIN_URL", pg.URL()},
		{"BASE_DOMAIN", BaseDomain},
		{"PLATTR_OPERATOR_METRICS", fmt.Sprintf("http://127.0.0.1:%d/metrics", port)},
		{"S3_ENDPOINT", store.Endpoint()},
		{"S3_ADMIN_ENDPOINT", store.AdminEndpoint()},
		{"S3_ACCESS_KEY_ID", store.AccessKey},
		{"S3_SECRET_ACCESS_KEY", store.SecretKey},
		{"DEX_ISSUER_URL", idp.Issuer()},
		{"DEX_NAMESPACE", DexNamespace},
		{"PLATTR_DEV_USER", DevUserEmail},
		{"PLATTR_DEV_PASSWORD", devPassword},
	}
	if u := d.natsURL(); u != "" {
		env = append(env, [2]string{"NATS_URL", u})
	}
	if addr, err := d.RegistryAddr(); err == nil {
		// helm push --plain-http chart.tgz oci://$PLATTR_REGISTRY/charts
		env = append(env, [2]string{"PLATTR_REGISTRY", addr})
	}
	if url, err := d.apiURL(); err == nil {
		env = append(env, [2]string{"PLATTR_API_URL", url})
	}
	if b, err := os.ReadFile(d.TokenFile()); err == nil {
		// The local site admin's token: curl -H "Authorization: Bearer $PLATTR_TOKEN" $PLATTR_API_URL/api/v1/apps
		env = append(env, [2]string{"PLATTR_TOKEN", strings.TrimSpace(string(b))})
	}
	if plane.Bin.K8sDir != "" {
		env = append(env, [2]string{"PATH", plane.Bin.K8sDir + ":" + os.Getenv("PATH")})
	}
	sort.Slice(env, func(i, j int) bool { return env[i][0] < env[j][0] })
	return env, nil
}

// startReady starts p unless it runs, and waits until url answers 200.
func startReady(ctx context.Context, p *proc.Process, url string) error {
	if _, running := p.Running(); !running {
		if err := p.Start(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return p.WaitFor(ctx, "ready", func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
}
