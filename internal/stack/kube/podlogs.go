package kube

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// podLogsConfig is kwok's configuration of the pods' logs.
const podLogsConfig = "kwok-pod-logs.yaml"

// Simulated pods run no process, so they have no output of their own:
// kwok serves every container these lines (CRI log format), so `kubectl
// logs` and `plattr logs` work end to end on the local stack, through the
// API server and the kubelet API, and say what they are.
var podLogs = []string{
	"simulated container log: pods on the local stack run no process (kwok)",
	"GET /healthz 200",
	"GET / 200",
}

// writePodLogs writes the log file and the ClusterLogs that hands it to
// every container.
func writePodLogs(dir string) error {
	logFile := filepath.Join(dir, "kwok-pod.log")
	var b []byte
	now := time.Now().UTC()
	for i, line := range podLogs {
		b = fmt.Appendf(b, "%s stdout F %s\n", now.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), line)
	}
	if err := os.WriteFile(logFile, b, 0o644); err != nil {
		return err
	}
	config := fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: simulated
spec:
  logs:
  - logsFile: %s
    follow: false
`, logFile)
	return os.WriteFile(filepath.Join(dir, podLogsConfig), []byte(config), 0o644)
}

// ensureKubelet creates, once, kwok's serving certificate for the kubelet
// API on 127.0.0.1. Self-signed: the API server of this local stack is not
// given a kubelet CA (--kubelet-certificate-authority), so it does not
// verify kubelets' certificates.
func (p pki) ensureKubelet() error {
	if _, err := os.Stat(p.path("kubelet.crt")); err == nil {
		return nil
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4),
		Subject:      pkix.Name{CommonName: "kwok-kubelet"},
		NotBefore:    now, NotAfter: now.AddDate(10, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	if err := writeKey(p.path("kubelet.key"), key); err != nil {
		return err
	}
	return writeCert(p.path("kubelet.crt"), der)
}
