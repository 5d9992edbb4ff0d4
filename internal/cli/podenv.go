package cli

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

// appEnv is the environment of the app the flags name (see podEnv).
func (g *globals) appEnv(cmd *cobra.Command, tf *targetFlags) (map[string]string, error) {
	s, t, err := g.target(tf, nil)
	if err != nil {
		return nil, err
	}
	return podEnv(cmd.Context(), s.c, t.ns, t.app)
}

// podEnv is exactly the environment the app container of the app's pods
// gets — envFrom first (the platform's Secrets and ConfigMaps), then env
// (PORT and spec.envVars), later ones winning as in Kubernetes — read from
// the app's Deployment and resolved from the cluster.
func podEnv(ctx context.Context, c client.Client, ns, app string) (map[string]string, error) {
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ObjectsFor(app).Workload}, d); err != nil {
		return nil, fmt.Errorf("the workload of %s in namespace %s: %w (is it deployed? plattr status %s)", app, ns, err, app)
	}
	var container *corev1.Container
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == "app" {
			container = &d.Spec.Template.Spec.Containers[i]
		}
	}
	if container == nil {
		return nil, fmt.Errorf("Deployment %s/%s has no app container", ns, d.Name)
	}
	env := map[string]string{}
	secret := func(name string) (*corev1.Secret, error) {
		s := &corev1.Secret{}
		return s, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)
	}
	for _, from := range container.EnvFrom {
		switch {
		case from.SecretRef != nil:
			s, err := secret(from.SecretRef.Name)
			if err != nil {
				return nil, fmt.Errorf("Secret %s: %w", from.SecretRef.Name, err)
			}
			for k, v := range s.Data {
				env[from.Prefix+k] = string(v)
			}
		case from.ConfigMapRef != nil:
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.ConfigMapRef.Name}, cm); err != nil {
				return nil, fmt.Errorf("ConfigMap %s: %w", from.ConfigMapRef.Name, err)
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = v
			}
		}
	}
	for _, e := range container.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			s, err := secret(e.ValueFrom.SecretKeyRef.Name)
			if err != nil {
				return nil, fmt.Errorf("%s: Secret %s: %w", e.Name, e.ValueFrom.SecretKeyRef.Name, err)
			}
			v, ok := s.Data[e.ValueFrom.SecretKeyRef.Key]
			if !ok {
				return nil, fmt.Errorf("%s: Secret %s has no key %s", e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
			}
			env[e.Name] = string(v)
		default:
			return nil, fmt.Errorf("%s: a valueFrom Plattr does not write", e.Name)
		}
	}
	return env, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// databaseURL reads DATABASE_URL from the app's Secret.
func databaseURL(ctx context.Context, c client.Client, ns, app string) (string, error) {
	s := &corev1.Secret{}
	name := naming.ObjectsFor(app).DatabaseSecret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		return "", fmt.Errorf("Secret %s in namespace %s: %w (does %s have spec.database.enabled? plattr status %s)", name, ns, err, app, app)
	}
	url := string(s.Data[platformv1.KeyDatabaseURL])
	if url == "" {
		return "", fmt.Errorf("Secret %s has no %s", name, platformv1.KeyDatabaseURL)
	}
	return url, nil
}
