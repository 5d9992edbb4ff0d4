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

	"github.com/plattr/plattr/internal/capability"
)

// envVars is spec.envVars resolved for the pods.
type envVars struct {
	env     []*corev1ac.EnvVarApplyConfiguration
	digests []string // of every referenced Secret value, so a change rolls the pods
	// copied holds the referenced values when they are read in another
	// namespace than the pods'; nil otherwise.
	copied map[string][]byte
	// refused says, per variable, why its Secret is not the app's to read
	// (see notAllowed); those variables are left out of env and copied.
	refused []string
}

// resolveEnvVars turns spec.envVars into container variables. Referenced
// Secrets are read in spec.SecretsNamespace; when that is not the pods'
// namespace (a preview runs in its own), their values are copied into the
// Secret <name>-env beside the pods, which the variables then reference.
// A Secret that is not spec.App's to read is refused before its keys are
// looked at, and its variable left out.
func (c *Capability) resolveEnvVars(ctx context.Context, t capability.Target, spec Spec) (envVars, error) {
	from := spec.SecretsNamespace
	if from == "" {
		from = t.Namespace
	}
	var out envVars
	field := "spec.envVars[%d].secretKeyRef"
	if from != t.Namespace {
		out.copied = map[string][]byte{}
		field = "the parent's " + field
	}
	for i, v := range spec.EnvVars {
		if v.SecretKeyRef == nil {
			out.env = append(out.env, corev1ac.EnvVar().WithName(v.Name).WithValue(v.Value))
			continue
		}
		secret := &corev1.Secret{}
		err := c.APIReader.Get(ctx, client.ObjectKey{Namespace: from, Name: v.SecretKeyRef.Name}, secret)
		if apierrors.IsNotFound(err) {
			return envVars{}, fmt.Errorf("spec.envVars[%d] (%s): Secret %q does not exist in namespace %s; create it or fix secretKeyRef.name",
				i, v.Name, v.SecretKeyRef.Name, from)
		}
		if err != nil {
			return envVars{}, err
		}
		if why, fix := notAllowed(secret, spec.App, out.copied != nil); why != "" {
			out.refused = append(out.refused, fmt.Sprintf(field+" (%s): Secret %q is not %s's to read: %s; %s",
				i, v.Name, v.SecretKeyRef.Name, spec.App, why, fix))
			continue
		}
		value, ok := secret.Data[v.SecretKeyRef.Key]
		if !ok {
			return envVars{}, fmt.Errorf("spec.envVars[%d] (%s): Secret %q has no key %q; add it or fix secretKeyRef.key",
				i, v.Name, v.SecretKeyRef.Name, v.SecretKeyRef.Key)
		}
		out.digests = append(out.digests, secretDigest(v.SecretKeyRef.Name+"/"+v.SecretKeyRef.Key, map[string][]byte{"v": value}))
		name, key := v.SecretKeyRef.Name, v.SecretKeyRef.Key
		if out.copied != nil {
			name, key = copiedSecret(spec.Name), v.Name
			out.copied[key] = value
		}
		out.env = append(out.env, corev1ac.EnvVar().WithName(v.Name).WithValueFrom(corev1ac.EnvVarSource().
			WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(name).WithKey(key))))
	}
	return out, nil
}

// copiedSecret holds the envVars' Secret values beside pods that run in
// another namespace than those Secrets.
func copiedSecret(workload string) string { return workload + "-env" }

// ensureCopies writes the copied values, or removes the copy when nothing
// is copied any more.
func (c *Capability) ensureCopies(ctx context.Context, t capability.Target, spec Spec, vars envVars) error {
	name := copiedSecret(spec.Name)
	if len(vars.copied) == 0 {
		if spec.SecretsNamespace == "" || spec.SecretsNamespace == t.Namespace {
			return nil // never copied here
		}
		return c.Delete(ctx, t, &corev1.Secret{}, name)
	}
	return capability.Apply(ctx, c.Kube, t, &corev1.Secret{}, t.CredentialsApply(name, vars.copied), corev1ac.ExtractSecret)
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
