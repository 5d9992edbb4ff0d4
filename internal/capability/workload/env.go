package workload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
)

// resolveEnvVars turns spec.envVars into container variables and collects a
// digest of every referenced Secret value, so a change rolls the pods.
// Referenced Secrets are read in the target's namespace, where the pods run.
func (c *Capability) resolveEnvVars(ctx context.Context, t capability.Target, vars []platformv1.EnvVar) ([]*corev1ac.EnvVarApplyConfiguration, []string, error) {
	var env []*corev1ac.EnvVarApplyConfiguration
	var digests []string
	for i, v := range vars {
		if v.SecretKeyRef == nil {
			env = append(env, corev1ac.EnvVar().WithName(v.Name).WithValue(v.Value))
			continue
		}
		secret := &corev1.Secret{}
		err := c.APIReader.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: v.SecretKeyRef.Name}, secret)
		if apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("spec.envVars[%d] (%s): Secret %q does not exist in namespace %s; create it or fix secretKeyRef.name",
				i, v.Name, v.SecretKeyRef.Name, t.Namespace)
		}
		if err != nil {
			return nil, nil, err
		}
		value, ok := secret.Data[v.SecretKeyRef.Key]
		if !ok {
			return nil, nil, fmt.Errorf("spec.envVars[%d] (%s): Secret %q has no key %q; add it or fix secretKeyRef.key",
				i, v.Name, v.SecretKeyRef.Name, v.SecretKeyRef.Key)
		}
		digests = append(digests, secretDigest(v.SecretKeyRef.Name+"/"+v.SecretKeyRef.Key, map[string][]byte{"v": value}))
		env = append(env, corev1ac.EnvVar().WithName(v.Name).WithValueFrom(corev1ac.EnvVarSource().
			WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(v.SecretKeyRef.Name).WithKey(v.SecretKeyRef.Key))))
	}
	return env, digests, nil
}

func secretDigest(name string, data map[string][]byte) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	h.Write([]byte(name))
	for _, k := range keys {
		fmt.Fprintf(h, "\x00%s\x00%d\x00", k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func configHash(digests []string) string {
	sort.Strings(digests)
	h := sha256.New()
	for _, d := range digests {
		h.Write([]byte(d))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
