// Package auth is the auth capability: an OIDC client of the owner's own at
// the identity provider (Keycloak or Dex), handed to the app in a
// ConfigMap and a Secret.
package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/identity"
)

// Name of the capability, in Sources.
const Name = "auth"

// Capability provisions OIDC clients.
type Capability struct {
	capability.Kube
	// IdP is nil when the platform has no identity provider.
	IdP identity.Provider
	// PlatformNamespace is where the platform team keeps the upstream
	// providers' credentials, one Secret per app (Spec.Credentials): only
	// the platform team writes there.
	PlatformNamespace string
	// ProvidersSecret is the Secret, in the owner's namespace, where they
	// were kept before (issue 17). It is never read for credentials — the
	// namespace's tenant can write it — only looked for, to say where they
	// moved.
	ProvidersSecret string
}

// CredentialsSecretPrefix begins the name of every app's credentials
// Secret in the platform namespace.
const CredentialsSecretPrefix = "plattr-auth."

// CredentialsSecretName is the Secret, in the platform namespace, with the
// upstream providers' credentials of the app name in namespace:
// plattr-auth.<namespace>.<name>. Neither a namespace nor an app name can
// hold a dot, so no two apps share one.
func CredentialsSecretName(namespace, name string) string {
	return CredentialsSecretPrefix + namespace + "." + name
}

// ParseCredentialsSecretName is the inverse of CredentialsSecretName.
func ParseCredentialsSecretName(secret string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(secret, CredentialsSecretPrefix)
	if !found {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ".")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ".") {
		return "", "", false
	}
	return namespace, name, true
}

// Spec is what one owner asks of the identity provider.
type Spec struct {
	Enabled bool
	// Client describes the client; its Secret is filled in by Ensure.
	Client identity.Client
	// Providers are the upstream identity providers to offer.
	Providers []platformv1.AuthProvider
	// Credentials names the Secret, in the platform namespace, with the
	// providers' credentials (CredentialsSecretName): the app's own, or a
	// preview's parent's.
	Credentials string
	// Secret is the name of the ConfigMap and Secret, in the target's namespace.
	Secret string
}

// NewClient describes the client of an app served at host: exact redirect
// URI and origin of its current host, so a domain change moves them.
func NewClient(owner, realm, app, host string) identity.Client {
	return identity.Client{
		Owner:        owner,
		Realm:        realm,
		App:          app,
		RedirectURIs: []string{"https://" + host + platformv1.AuthCallbackPath},
		WebOrigins:   []string{"https://" + host},
	}
}

// Ensure gives the owner its OIDC client. The client secret lives in the
// owner's Secret and changes only when that Secret is deleted; the
// provider gets the new secret before the Secret is written. It returns the
// ConfigMap and Secret as Sources.
func (c *Capability) Ensure(ctx context.Context, t capability.Target, spec Spec) ([]capability.Source, error) {
	if !spec.Enabled {
		t.SetCondition(platformv1.ConditionAuthReady, metav1.ConditionTrue, platformv1.ReasonDisabled, "spec.auth.enabled is false")
		return nil, nil
	}
	if c.IdP == nil {
		t.SetCondition(platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonAuthNotConfigured,
			"this platform has no identity provider: the platform team sets KEYCLOAK_URL or DEX_ISSUER_URL on the operator (or set spec.auth.enabled to false)")
		return nil, errors.New("auth requested but no identity provider is configured")
	}
	upstreams, err := c.upstreams(ctx, t, spec)
	if err != nil {
		return nil, err
	}

	secret, err := c.CredentialsSecret(ctx, t, platformv1.ConditionAuthReady, spec.Secret, "the client secret")
	if err != nil {
		return nil, c.failed(t, err)
	}
	clientSecret := ""
	if secret != nil {
		clientSecret = string(secret.Data[platformv1.KeyAuthClientSecret])
	}
	if clientSecret == "" {
		if clientSecret, err = database.NewPassword(); err != nil {
			return nil, c.failed(t, err)
		}
		if t.Established {
			c.Event(t, corev1.EventTypeNormal, platformv1.EventRotated, "Rotate",
				"Secret %s was missing: issued a new client secret", spec.Secret)
		}
	}

	desired := spec.Client
	desired.Secret = clientSecret
	desired.Upstreams = upstreams
	res, changed, err := c.IdP.Ensure(ctx, desired)
	if errors.Is(err, identity.ErrNoConnectors) {
		t.SetCondition(platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonNoConnectors, fmt.Sprintf(
			"%v: list a provider in spec.auth.providers (its credentials in Secret %s in namespace %s, see docs/AUTH.md), or the platform team sets DEX_SHARED_CONNECTORS on the operator",
			err, spec.Credentials, c.PlatformNamespace))
		return nil, err
	}
	if err != nil {
		return nil, c.failed(t, err)
	}
	if changed && t.Settled {
		c.Event(t, corev1.EventTypeNormal, platformv1.EventRestored, "Reconcile",
			"%s client %s differed from the spec and was corrected", c.IdP.Name(), desired.Realm)
	}

	config := map[string]string{
		platformv1.KeyAuthIssuerURL:   res.IssuerURL,
		platformv1.KeyAuthClientID:    res.ClientID,
		platformv1.KeyAuthRedirectURI: desired.RedirectURIs[0],
	}
	// The ConfigMap and the Secret share one name, <app>-auth.
	credentials := map[string][]byte{platformv1.KeyAuthClientSecret: []byte(clientSecret)}
	sources, err := c.Provide(ctx, t, Name, platformv1.ConditionAuthReady, spec.Secret, config, secret, credentials)
	if err != nil {
		return nil, c.failed(t, err)
	}

	msg := fmt.Sprintf("%s client %s at %s", c.IdP.Name(), res.ClientID, res.IssuerURL)
	if len(upstreams) > 0 {
		var types []string
		for _, u := range upstreams {
			types = append(types, u.Type)
		}
		msg += " with " + strings.Join(types, ", ")
	}
	t.SetCondition(platformv1.ConditionAuthReady, metav1.ConditionTrue, platformv1.ReasonProvisioned, msg)
	return sources, nil
}

// Remove deletes the owner's client.
func (c *Capability) Remove(ctx context.Context, spec Spec) error {
	return c.IdP.Remove(ctx, spec.Client)
}

// LastGood is the ConfigMap and Secret an earlier reconcile wrote.
func (c *Capability) LastGood(ctx context.Context, t capability.Target, spec Spec) ([]capability.Source, error) {
	return c.Kube.LastGood(ctx, t, Name, spec.Secret, true)
}

// upstreams reads the credentials of the upstream identity providers from
// the platform team's Secret in the platform namespace.
func (c *Capability) upstreams(ctx context.Context, t capability.Target, spec Spec) ([]identity.Upstream, error) {
	if len(spec.Providers) == 0 {
		return nil, nil
	}
	name, namespace := spec.Credentials, c.PlatformNamespace
	secret := &corev1.Secret{}
	// Read past the cache: only Plattr's own Secrets are cached.
	err := c.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, secret)
	if err != nil && !apierrors.IsNotFound(err) {
		t.SetCondition(platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonAPIError, fmt.Sprintf("reading Secret %s in namespace %s: %v", name, namespace, err))
		return nil, err
	}
	var missing []string
	var out []identity.Upstream
	for _, p := range spec.Providers {
		for _, key := range identity.RequiredKeys(string(p)) {
			if len(secret.Data[key]) == 0 {
				missing = append(missing, key)
			}
		}
		out = append(out, identity.UpstreamFrom(string(p), secret.Data))
	}
	if len(missing) == 0 {
		return out, nil
	}
	msg := fmt.Sprintf("spec.auth.providers needs credentials: Secret %s in namespace %s lacks %s; the platform team adds them (see docs/AUTH.md)",
		name, namespace, strings.Join(missing, ", "))
	if apierrors.IsNotFound(err) {
		msg = fmt.Sprintf("spec.auth.providers needs credentials: the platform team creates Secret %s in namespace %s with keys %s (see docs/AUTH.md)",
			name, namespace, strings.Join(missing, ", "))
	}
	if c.legacySecret(ctx, t) {
		msg += fmt.Sprintf("; Secret %s in namespace %s is no longer read (the namespace's tenant can write it): move its keys there",
			c.ProvidersSecret, t.Owner.GetNamespace())
	}
	t.SetCondition(platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonProviderCredentialsMissing, msg)
	return nil, errors.New(msg)
}

// legacySecret reports whether the owner's namespace still has the
// credentials Secret of before issue 17; it is never used.
func (c *Capability) legacySecret(ctx context.Context, t capability.Target) bool {
	if c.ProvidersSecret == "" {
		return false
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return c.APIReader.Get(ctx, client.ObjectKey{Namespace: t.Owner.GetNamespace(), Name: c.ProvidersSecret}, m) == nil
}

func (c *Capability) failed(t capability.Target, err error) error {
	switch {
	case errors.Is(err, capability.ErrSecretConflict), errors.Is(err, capability.ErrRotationPending):
		return err
	case errors.Is(err, identity.ErrConflict):
		t.SetCondition(platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonRealmConflict, err.Error())
		return err
	default:
		t.SetCondition(platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonIdentityProviderUnavailable,
			fmt.Sprintf("%v; check that %s is reachable and the operator's credentials for it", err, c.IdP.Name()))
		return capability.Unavailable(capability.BackendIdentity, err)
	}
}
