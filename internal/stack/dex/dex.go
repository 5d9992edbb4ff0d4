// Package dex runs Dex, the OIDC provider, for tests and the local stack:
// hack/dex's small main around Dex's server and Kubernetes storage, so the
// OAuth2 clients Plattr writes as custom resources are what Dex serves.
package dex

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/plattr/plattr/internal/stack/proc"
)

// LocalConnector is the ID of the password database connector hack/dex
// serves (its --user users): the only connector the local stack's clients
// share.
const LocalConnector = "local"

// Server is one Dex process.
type Server struct {
	Dir        string // pid and log files
	Port       int
	Kubeconfig string // cluster holding Dex's custom resources
	Namespace  string // where Dex keeps them (created if missing)
	// Users are password-database users as email:password, for the
	// password grant (tests and `plattr dev`).
	Users  []string
	Binary string
	proc   *proc.Process
}

// New describes a server; Binary is found under binDir.
func New(binDir, dir string, port int, kubeconfig, namespace string, users ...string) (*Server, error) {
	bin, err := proc.FindTool(binDir, "dex-v*", "dex", "PLATTR_DEX_BIN")
	if err != nil {
		return nil, err
	}
	return &Server{Dir: dir, Port: port, Kubeconfig: kubeconfig, Namespace: namespace, Users: users, Binary: bin}, nil
}

// dexKubeconfig is the cluster's kubeconfig with Dex's namespace as the
// current context's: Dex's storage takes its namespace from there.
func (s *Server) dexKubeconfig() string { return filepath.Join(s.Dir, "dex-kubeconfig") }

func (s *Server) prepare(ctx context.Context) error {
	cfg, err := clientcmd.LoadFromFile(s.Kubeconfig)
	if err != nil {
		return err
	}
	kctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return fmt.Errorf("%s has no current context", s.Kubeconfig)
	}
	kctx.Namespace = s.Namespace
	if err := clientcmd.WriteToFile(*cfg, s.dexKubeconfig()); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = nil
	}
	return err
}

// Issuer is the issuer URL tokens carry.
func (s *Server) Issuer() string { return "http://127.0.0.1:" + strconv.Itoa(s.Port) + "/dex" }

func (s *Server) process() *proc.Process {
	if s.proc == nil {
		args := []string{"--issuer", s.Issuer(), "--http", "127.0.0.1:" + strconv.Itoa(s.Port), "--kubeconfig", s.dexKubeconfig()}
		for _, u := range s.Users {
			args = append(args, "--user", u)
		}
		s.proc = &proc.Process{Name: "dex", Path: s.Binary, Args: args, Dir: s.Dir}
	}
	return s.proc
}

// Start starts Dex and waits until its discovery document is served.
func (s *Server) Start(ctx context.Context) error {
	p := s.process()
	if _, ok := p.Running(); ok {
		return nil
	}
	if err := s.prepare(ctx); err != nil {
		return fmt.Errorf("preparing Dex's namespace %s: %w", s.Namespace, err)
	}
	if err := p.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	return p.WaitFor(ctx, "serving its discovery document", func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Issuer()+"/.well-known/openid-configuration", nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	})
}

// Running reports whether the process is alive.
func (s *Server) Running() bool { _, ok := s.process().Running(); return ok }

// Stop stops Dex; its clients stay in the cluster.
func (s *Server) Stop() error { return s.process().Stop(10 * time.Second) }

// LogFile is Dex's log.
func (s *Server) LogFile() string { return s.process().LogFile() }
