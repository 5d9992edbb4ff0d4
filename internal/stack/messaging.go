package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/stack/nats"
)

// The local stack's messaging: a NATS server in operator JWT mode, the
// operator's keys in the Secrets the chart names, and a NatsAccount named
// default that every namespace may use.

// natsServer is the stack's NATS server; its keys stay in its directory.
func (d *Dev) natsServer() (*nats.Server, error) {
	port, err := d.port("nats")
	if err != nil {
		return nil, err
	}
	return nats.New(d.BinDir, filepath.Join(d.Dir, "nats"), port)
}

// natsURL is the server's URL ("" when its binary is missing).
func (d *Dev) natsURL() string {
	s, err := d.natsServer()
	if err != nil {
		return ""
	}
	return s.URL()
}

// startMessaging starts the server and gives the cluster what the operator
// reads: its keys and the default account.
func (d *Dev) startMessaging(ctx context.Context, kubeconfig string) error {
	s, err := d.natsServer()
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(rc, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: PlatformNamespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	for name, data := range map[string]map[string][]byte{
		"plattr-nats-operator": {"seed": []byte(s.Keys.SigningKeySeed)},
		"plattr-nats-system":   {platformv1.NatsCredsKey: []byte(s.Keys.SystemUserCreds)},
	} {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: PlatformNamespace, Name: name}, Data: data}
		if err := c.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("Secret %s: %w", name, err)
		}
	}
	acct := &platformv1.NatsAccount{ObjectMeta: metav1.ObjectMeta{Namespace: PlatformNamespace, Name: "default"},
		Spec: platformv1.NatsAccountSpec{NamespaceSelector: &metav1.LabelSelector{}}}
	if err := c.Create(ctx, acct); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("NatsAccount default: %w", err)
	}
	return nil
}

// natsEnv is the operator's NATS setting.
func (d *Dev) natsEnv() []string {
	if u := d.natsURL(); u != "" {
		return []string{"NATS_URL=" + u}
	}
	return nil
}

// stopMessaging stops the server (its keys and accounts stay).
func (d *Dev) stopMessaging() error {
	s, err := d.natsServer()
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil
		}
		return err
	}
	return s.Stop()
}
