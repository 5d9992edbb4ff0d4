package application

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
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/identity"
	"github.com/plattr/plattr/internal/naming"
)

// CallbackPath is where the identity provider sends users back to the app;
// redirect URIs are exact, so apps use AUTH_REDIRECT_URI as given.
const CallbackPath = "/auth/callback"

// reconcileAuth gives the app an OIDC client. The client secret lives in
// the app's Secret and changes only when that Secret is deleted; the
// provider gets the new secret before the Secret is written.
func (r *Reconciler) reconcileAuth(ctx context.Context, s *scope) error {
	app := s.app
	if !app.Spec.AuthEnabled() {
		setCondition(app, platformv1.ConditionAuthReady, metav1.ConditionTrue, platformv1.ReasonDisabled, "spec.auth.enabled is false")
		return nil
	}
	if r.Identity == nil {
		setCondition(app, platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonAuthNotConfigured,
			"this platform has no identity provider: the platform team sets KEYCLOAK_URL or DEX_ISSUER_URL on the operator (or set spec.auth.enabled to false)")
		return s.fail(errors.New("auth requested but no identity provider is configured"))
	}
	upstreams, err := r.upstreams(ctx, app)
	if err != nil {
		return s.fail(err)
	}

	objects := naming.ObjectsFor(app.Name)
	secret, err := r.credentialsSecret(ctx, s, platformv1.ConditionAuthReady, objects.AuthSecret, "the client secret")
	if err != nil {
		if errors.Is(err, errSecretConflict) {
			return err
		}
		return r.authFailed(s, err)
	}
	clientSecret := ""
	if secret != nil {
		clientSecret = string(secret.Data[platformv1.KeyAuthClientSecret])
	}
	if clientSecret == "" {
		if clientSecret, err = database.NewPassword(); err != nil {
			return r.authFailed(s, err)
		}
		if s.before.Status.ObservedGeneration > 0 {
			r.Recorder.Eventf(app, nil, corev1.EventTypeNormal, EventRotated, "Rotate",
				"Secret %s was missing: issued a new client secret", objects.AuthSecret)
		}
	}

	host := naming.Host(app, r.Config.BaseDomain)
	desired := authClient(app, host, clientSecret, upstreams)
	res, changed, err := r.Identity.Ensure(ctx, desired)
	if err != nil {
		return r.authFailed(s, err)
	}
	if changed && s.settled {
		r.Recorder.Eventf(app, nil, corev1.EventTypeNormal, EventRestored, "Reconcile",
			"%s client %s differed from the spec and was corrected", r.Identity.Name(), desired.Realm)
	}

	config := map[string]string{
		platformv1.KeyAuthIssuerURL:   res.IssuerURL,
		platformv1.KeyAuthClientID:    res.ClientID,
		platformv1.KeyAuthRedirectURI: "https://" + host + CallbackPath,
	}
	// The ConfigMap and the Secret share one name, <app>-auth.
	credentials := map[string][]byte{platformv1.KeyAuthClientSecret: []byte(clientSecret)}
	if err := r.provide(ctx, s, capabilityAuth, platformv1.ConditionAuthReady, objects.AuthSecret, config, secret, credentials); err != nil {
		if errors.Is(err, errRotationPending) {
			return err
		}
		return r.authFailed(s, err)
	}

	msg := fmt.Sprintf("%s client %s at %s", r.Identity.Name(), res.ClientID, res.IssuerURL)
	if len(upstreams) > 0 {
		var types []string
		for _, u := range upstreams {
			types = append(types, u.Type)
		}
		msg += " with " + strings.Join(types, ", ")
	}
	setCondition(app, platformv1.ConditionAuthReady, metav1.ConditionTrue, platformv1.ReasonProvisioned, msg)
	return nil
}

// authClient describes the app's client: exact redirect URI and origin of
// its current host, so a domain change moves them.
func authClient(app *platformv1.Application, host, secret string, upstreams []identity.Upstream) identity.Client {
	return identity.Client{
		Owner:        app.Namespace + "/" + app.Name,
		Realm:        naming.Realm(app),
		App:          app.Name,
		Secret:       secret,
		RedirectURIs: []string{"https://" + host + CallbackPath},
		WebOrigins:   []string{"https://" + host},
		Upstreams:    upstreams,
	}
}

// upstreams reads the credentials of the app's upstream identity providers
// from the platform team's Secret in the app's namespace.
func (r *Reconciler) upstreams(ctx context.Context, app *platformv1.Application) ([]identity.Upstream, error) {
	if len(app.Spec.Auth.Providers) == 0 {
		return nil, nil
	}
	name := r.Config.Auth.ProvidersSecret
	secret := &corev1.Secret{}
	// Read past the cache: only Plattr's own Secrets are cached.
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: name}, secret)
	if err != nil && !apierrors.IsNotFound(err) {
		setCondition(app, platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonAPIError, fmt.Sprintf("reading Secret %s: %v", name, err))
		return nil, err
	}
	var missing []string
	var out []identity.Upstream
	for _, p := range app.Spec.Auth.Providers {
		for _, key := range identity.RequiredKeys(string(p)) {
			if len(secret.Data[key]) == 0 {
				missing = append(missing, key)
			}
		}
		out = append(out, identity.UpstreamFrom(string(p), secret.Data))
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("spec.auth.providers needs credentials: Secret %s in namespace %s lacks %s; the platform team adds them (see docs/AUTH.md)",
			name, app.Namespace, strings.Join(missing, ", "))
		if apierrors.IsNotFound(err) {
			msg = fmt.Sprintf("spec.auth.providers needs credentials: create Secret %s in namespace %s with keys %s (see docs/AUTH.md)",
				name, app.Namespace, strings.Join(missing, ", "))
		}
		setCondition(app, platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonProviderCredentialsMissing, msg)
		return nil, errors.New(msg)
	}
	return out, nil
}

func (r *Reconciler) authFailed(s *scope, err error) error {
	if errors.Is(err, identity.ErrConflict) {
		setCondition(s.app, platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonRealmConflict, err.Error())
	} else {
		setCondition(s.app, platformv1.ConditionAuthReady, metav1.ConditionFalse, platformv1.ReasonIdentityProviderUnavailable,
			fmt.Sprintf("%v; check that %s is reachable and the operator's credentials for it", err, r.Identity.Name()))
		r.backends.failed(backendIdentity, s.app) // retried at once when it answers
	}
	return s.fail(err)
}
