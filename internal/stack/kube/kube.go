// Package kube runs a real Kubernetes control plane on this machine — etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler — built from the Go
// module proxy by hack/build-tools.sh, plus kwok, which simulates nodes so
// that pods are really scheduled and turn Ready without a container runtime.
// Tests and `plattr dev up` use the same code.
package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/plattr/plattr/internal/stack/proc"
)

// Binaries says where the built components are.
type Binaries struct {
	K8sDir  string // holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
	KwokDir string // holds kwok and stages.yaml
}

// FindBinaries locates the components in binDir/k8s-v*/ and binDir/kwok-v*/
// (as hack/build-tools.sh lays them out), or where PLATTR_K8S_BIN and
// PLATTR_KWOK_BIN say.
func FindBinaries(binDir string) (Binaries, error) {
	b := Binaries{K8sDir: os.Getenv("PLATTR_K8S_BIN"), KwokDir: os.Getenv("PLATTR_KWOK_BIN")}
	if b.K8sDir == "" {
		b.K8sDir = newest(filepath.Join(binDir, "k8s-v*"), "kube-apiserver")
	}
	if b.KwokDir == "" {
		b.KwokDir = newest(filepath.Join(binDir, "kwok-v*"), "kwok")
	}
	if b.K8sDir == "" || b.KwokDir == "" {
		return b, fmt.Errorf("control-plane binaries not found in %s: build them with `make tools` (hack/build-tools.sh)", binDir)
	}
	return b, nil
}

func newest(glob, file string) string {
	matches, _ := filepath.Glob(glob)
	for i := len(matches) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(matches[i], file)); err == nil {
			return matches[i]
		}
	}
	return ""
}

// ports are chosen once and kept in the state directory, so a restarted
// stack answers at the same address and old kubeconfigs stay valid.
type ports struct {
	Etcd, EtcdPeer, APIServer int
	// Kubelet is kwok's server, the simulated nodes' kubelet endpoint: the
	// API server reaches it for pod logs.
	Kubelet int `json:",omitempty"`
}

// ControlPlane is a local Kubernetes control plane with simulated nodes.
type ControlPlane struct {
	Dir   string
	Bin   Binaries
	Nodes int // simulated nodes; 1 when zero
	ports ports
}

// Kubeconfig is the admin kubeconfig's path.
func (c *ControlPlane) Kubeconfig() string { return filepath.Join(c.Dir, "kubeconfig") }

// RESTConfig returns a client configuration for the admin user.
func (c *ControlPlane) RESTConfig() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
}

func (c *ControlPlane) processes() []*proc.Process {
	p := pki{dir: filepath.Join(c.Dir, "pki")}
	k := func(name string) string { return filepath.Join(c.Bin.K8sDir, name) }
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(c.ports.Etcd)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(c.ports.EtcdPeer)
	kubeconfig := c.Kubeconfig()
	return []*proc.Process{
		{Name: "etcd", Path: k("etcd"), Dir: c.Dir, Args: []string{
			"--name=plattr", "--data-dir=" + filepath.Join(c.Dir, "etcd"),
			"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
			"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=plattr=" + peerURL, "--log-level=warn",
			// Local and throwaway: durability is not worth the fsync latency.
			"--unsafe-no-fsync=true",
		}},
		{Name: "kube-apiserver", Path: k("kube-apiserver"), Dir: c.Dir, Args: []string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(c.ports.APIServer),
			"--cert-dir=" + filepath.Join(c.Dir, "apiserver-certs"),
			"--tls-cert-file=" + p.path("apiserver.crt"), "--tls-private-key-file=" + p.path("apiserver.key"),
			"--client-ca-file=" + p.path("ca.crt"),
			"--service-account-key-file=" + p.path("sa.pub"),
			"--service-account-signing-key-file=" + p.path("sa.key"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-cluster-ip-range=10.96.0.0/16",
			"--authorization-mode=Node,RBAC", "--allow-privileged=true",
			// kwok serves the nodes' kubelet API (pod logs) on 127.0.0.1.
			"--kubelet-preferred-address-types=InternalIP",
			"--profiling=false", "--v=1",
		}},
		{Name: "kube-controller-manager", Path: k("kube-controller-manager"), Dir: c.Dir, Args: []string{
			"--kubeconfig=" + kubeconfig, "--leader-elect=false",
			"--bind-address=127.0.0.1", "--secure-port=0",
			"--service-account-private-key-file=" + p.path("sa.key"),
			"--root-ca-file=" + p.path("ca.crt"),
			"--use-service-account-credentials=false",
			"--kube-api-qps=100", "--kube-api-burst=200",
			// Fast turnover: a test waits for these.
			"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
			"--profiling=false", "--v=1",
		}},
		{Name: "kube-scheduler", Path: k("kube-scheduler"), Dir: c.Dir, Args: []string{
			"--kubeconfig=" + kubeconfig, "--leader-elect=false",
			"--bind-address=127.0.0.1", "--secure-port=0", "--profiling=false", "--v=1",
		}},
		{Name: "kwok", Path: filepath.Join(c.Bin.KwokDir, "kwok"), Dir: c.Dir, Args: []string{
			"--kubeconfig=" + kubeconfig,
			"--config=" + filepath.Join(c.Bin.KwokDir, "stages.yaml"),
			"--config=" + filepath.Join(c.Dir, podLogsConfig),
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
			"--node-ip=127.0.0.1", "--cidr=10.244.0.0/16",
			// Node leases are the heartbeat the node-heartbeat-with-lease stage
			// relies on; without them a node goes NotReady after the grace
			// period and its pods lose Ready for good.
			"--node-lease-duration-seconds=40",
			// The simulated kubelet: pod logs (simulated, see podLogs) for
			// `kubectl logs` and `plattr logs`.
			"--server-address=127.0.0.1:" + strconv.Itoa(c.ports.Kubelet), "--node-port=" + strconv.Itoa(c.ports.Kubelet),
			"--tls-cert-file=" + p.path("kubelet.crt"), "--tls-private-key-file=" + p.path("kubelet.key"),
			"--v=warn",
		}},
	}
}

// Start brings the control plane up and returns once a simulated node is Ready.
func (c *ControlPlane) Start(ctx context.Context) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	if err := c.loadOrPickPorts(); err != nil {
		return err
	}
	p := pki{dir: filepath.Join(c.Dir, "pki")}
	if err := p.ensure(); err != nil {
		return fmt.Errorf("creating certificates: %w", err)
	}
	if err := p.ensureKubelet(); err != nil {
		return fmt.Errorf("creating the simulated kubelet's certificate: %w", err)
	}
	if err := writePodLogs(c.Dir); err != nil {
		return err
	}
	if err := c.writeKubeconfig(p); err != nil {
		return err
	}
	procs := c.processes()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	if err := startAndWait(ctx, procs[0], "etcd to be healthy", func(ctx context.Context) error {
		return httpOK(ctx, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/health", c.ports.Etcd))
	}); err != nil {
		return err
	}
	client, err := c.adminHTTPClient(p)
	if err != nil {
		return err
	}
	if err := startAndWait(ctx, procs[1], "the API server to be ready", func(ctx context.Context) error {
		return httpOK(ctx, client, fmt.Sprintf("https://127.0.0.1:%d/readyz", c.ports.APIServer))
	}); err != nil {
		return err
	}
	for _, pr := range procs[2:] {
		if _, running := pr.Running(); !running {
			if err := pr.Start(); err != nil {
				return err
			}
		}
	}
	return c.ensureNodes(ctx, procs[4])
}

// Stop stops the processes newest first, waiting for each so its ports are
// free when Stop returns.
func (c *ControlPlane) Stop() error {
	_ = c.loadOrPickPorts()
	procs := c.processes()
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		errs = append(errs, procs[i].Stop(20*time.Second))
	}
	return errors.Join(errs...)
}

// Status reports which processes are running.
func (c *ControlPlane) Status() map[string]bool {
	_ = c.loadOrPickPorts()
	out := map[string]bool{}
	for _, p := range c.processes() {
		_, out[p.Name] = p.Running()
	}
	return out
}

func startAndWait(ctx context.Context, p *proc.Process, what string, check func(context.Context) error) error {
	if _, running := p.Running(); !running {
		if err := p.Start(); err != nil {
			return err
		}
	}
	return p.WaitFor(ctx, what, check)
}

func httpOK(ctx context.Context, client *http.Client, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

func (c *ControlPlane) loadOrPickPorts() error {
	path := filepath.Join(c.Dir, "ports.json")
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &c.ports); err != nil {
			return err
		}
		if c.ports.Kubelet != 0 {
			return nil
		}
		// A stack made before kwok served logs: add its port.
		if c.ports.Kubelet, err = proc.FreePort(); err != nil {
			return err
		}
		b, _ := json.Marshal(c.ports)
		return os.WriteFile(path, b, 0o644)
	}
	var err error
	pick := func() int {
		var p int
		if err == nil {
			p, err = proc.FreePort()
		}
		return p
	}
	c.ports = ports{Etcd: pick(), EtcdPeer: pick(), APIServer: pick(), Kubelet: pick()}
	if err != nil {
		return err
	}
	b, _ := json.Marshal(c.ports)
	return os.WriteFile(path, b, 0o644)
}

func (c *ControlPlane) writeKubeconfig(p pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["plattr-local"] = &clientcmdapi.Cluster{
		Server:               fmt.Sprintf("https://127.0.0.1:%d", c.ports.APIServer),
		CertificateAuthority: p.path("ca.crt"),
	}
	cfg.AuthInfos["plattr-admin"] = &clientcmdapi.AuthInfo{
		ClientCertificate: p.path("admin.crt"),
		ClientKey:         p.path("admin.key"),
	}
	cfg.Contexts["plattr-local"] = &clientcmdapi.Context{Cluster: "plattr-local", AuthInfo: "plattr-admin", Namespace: "default"}
	cfg.CurrentContext = "plattr-local"
	return clientcmd.WriteToFile(*cfg, c.Kubeconfig())
}

func (c *ControlPlane) adminHTTPClient(p pki) (*http.Client, error) {
	caPEM, err := os.ReadFile(p.path("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(p.path("admin.crt"), p.path("admin.key"))
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}}, nil
}

// ensureNodes registers the simulated nodes kwok manages and waits for them
// to be Ready.
func (c *ControlPlane) ensureNodes(ctx context.Context, kwok *proc.Process) error {
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	n := max(c.Nodes, 1)
	for i := range n {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("kwok-node-%d", i),
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels: map[string]string{
					"type": "kwok", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
					"kubernetes.io/hostname": fmt.Sprintf("kwok-node-%d", i),
				},
			},
			Status: corev1.NodeStatus{
				Allocatable: nodeResources(), Capacity: nodeResources(),
			},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("registering node %s: %w", node.Name, err)
		}
	}
	return kwok.WaitFor(ctx, "the simulated nodes to be Ready", func(ctx context.Context) error {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
		if err != nil {
			return err
		}
		ready := 0
		for _, nd := range nodes.Items {
			for _, cond := range nd.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready < n {
			return fmt.Errorf("%d of %d nodes Ready", ready, n)
		}
		return nil
	})
}

func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("500"),
	}
}
