package identity

import (
	"cmp"
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Dex manages clients of a Dex that uses its Kubernetes storage: each
// OAuth2 client and connector is a custom resource of group dex.coreos.com
// in Dex's namespace, which Dex reads on every request. Writing them is the
// same as Dex's own API would do, and needs no gRPC endpoint (whose server
// the published Dex modules cannot build).
//
// Dex has one issuer for everyone, so an app's "realm" is its client: ID
// <prefix>-<app>, its own connectors (ID <client>-<type>) for its upstream
// providers, and allowedConnectors limiting it to them and the shared ones.
// allowedConnectors is never empty: Dex reads an empty list as every
// connector, another app's included (issue 17), so such a client is not
// written (ErrNoConnectors).
type Dex struct {
	// Issuer is Dex's issuer URL, e.g. https://dex.example.com/dex.
	Issuer string
	// Namespace holds Dex's custom resources.
	Namespace string
	// Client writes the custom resources; it must not be a cached client.
	Client client.Client
	// SharedConnectors are connector IDs every client may also use, e.g. the
	// local password database of a development Dex.
	SharedConnectors []string
	HTTP             *http.Client  // nil: a client whose calls end after Timeout
	Timeout          time.Duration // bounds the discovery check; zero: 5 s
}

// Dex's custom resources (storage/kubernetes in github.com/dexidp/dex).
var (
	dexClientGVK    = schema.GroupVersionKind{Group: "dex.coreos.com", Version: "v1", Kind: "OAuth2Client"}
	dexConnectorGVK = schema.GroupVersionKind{Group: "dex.coreos.com", Version: "v1", Kind: "Connector"}
)

// dexOwnerAnnotation records which app a client or connector belongs to.
const dexOwnerAnnotation = "platform.internal/owner"

// DexObjectName is the object name Dex's Kubernetes storage gives a
// client's ID: the lowercase base32 of the ID followed by the FNV-64 sum of
// nothing, without padding. Dex looks clients up by this name; connectors
// it names and looks up by their ID itself (dexName).
func DexObjectName(id string) string {
	enc := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567")
	return strings.TrimRight(enc.EncodeToString(fnv.New64().Sum([]byte(id))), "=")
}

// dexName is the object name of one of Dex's objects. A connector stored
// under any other name is listed by Dex (so offered at sign-in) but not
// found when one signs in through it.
func dexName(gvk schema.GroupVersionKind, id string) string {
	if gvk == dexConnectorGVK {
		return id
	}
	return DexObjectName(id)
}

func (d *Dex) Name() string { return "Dex" }

func (d *Dex) unavailable(err error) error {
	return &UnavailableError{Service: "Dex", URL: d.Issuer, Err: err}
}

// ping fetches the discovery document: an issuer that does not serve it is
// of no use to an app, whatever the custom resources say.
func (d *Dex) ping(ctx context.Context) error {
	hc := d.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: cmp.Or(d.Timeout, 5*time.Second)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(d.Issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return d.unavailable(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if resp.StatusCode != http.StatusOK {
		return d.unavailable(fmt.Errorf("discovery document: HTTP %d", resp.StatusCode))
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Issuer != d.Issuer {
		return d.unavailable(fmt.Errorf("discovery document does not name issuer %s (got %q, %v)", d.Issuer, doc.Issuer, err))
	}
	return nil
}

// Ping checks Dex serves its discovery document.
func (d *Dex) Ping(ctx context.Context) error { return d.ping(ctx) }

func (d *Dex) Ensure(ctx context.Context, c Client) (Result, bool, error) {
	res := Result{IssuerURL: d.Issuer, ClientID: c.Realm}
	if err := d.ping(ctx); err != nil {
		return res, false, err
	}
	changed := false
	allowed := slices.Clone(d.SharedConnectors)
	for _, up := range c.Upstreams {
		id := DexConnectorID(c.Realm, up.Type)
		if slices.Contains(d.SharedConnectors, id) {
			// The shared connector is the platform's, not this app's.
			return res, false, fmt.Errorf("%w: Dex connector %q is one of DEX_SHARED_CONNECTORS", ErrConflict, id)
		}
		cfg, err := d.connectorConfig(up)
		if err != nil {
			return res, false, err
		}
		wrote, err := d.apply(ctx, dexConnectorGVK, id, c.Owner, map[string]any{
			"id": id, "type": up.Type, "name": strings.ToUpper(up.Type[:1]) + up.Type[1:],
			"config": cfg, // []byte: base64 in JSON, as Dex stores it
		})
		if err != nil {
			return res, false, err
		}
		changed = changed || wrote
		allowed = append(allowed, id)
	}
	if err := d.removeStaleConnectors(ctx, c, allowed); err != nil {
		return res, false, err
	}
	if len(allowed) == 0 {
		// Dex reads an empty allowedConnectors as "every connector",
		// another app's included: such a client must not exist. One an
		// earlier version wrote goes.
		if err := d.deleteOwned(ctx, dexClientGVK, c.Realm, c.Owner); err != nil {
			return res, false, err
		}
		return res, false, fmt.Errorf("%w: Dex client %s would allow no connector, which Dex reads as every connector", ErrNoConnectors, c.Realm)
	}
	wrote, err := d.apply(ctx, dexClientGVK, c.Realm, c.Owner, map[string]any{
		"id": c.Realm, "secret": c.Secret, "name": c.App,
		"redirectURIs":           toAny(c.RedirectURIs),
		"postLogoutRedirectURIs": toAny(postLogout(c.WebOrigins)),
		"public":                 false,
		// Never empty (above): the app's own connectors and the shared ones.
		"allowedConnectors": toAny(allowed),
	})
	return res, changed || wrote, err
}

// DexConnectorID is the ID of a client's connector for one upstream type:
// <client>-<type>. Types contain no "-", so two clients never share one,
// and the owner annotation keeps an app off a connector that is not its own.
func DexConnectorID(clientID, typ string) string { return clientID + "-" + typ }

// postLogout sends users back to the app's own origin after signing out.
func postLogout(origins []string) []string {
	out := make([]string, 0, len(origins))
	for _, o := range origins {
		out = append(out, o+"/")
	}
	return out
}

func (d *Dex) connectorConfig(up Upstream) ([]byte, error) {
	cfg := map[string]any{
		"clientID": up.ClientID, "clientSecret": up.ClientSecret,
		"redirectURI": strings.TrimRight(d.Issuer, "/") + "/callback",
	}
	switch up.Type {
	case UpstreamOIDC:
		cfg["issuer"] = up.Issuer
	case UpstreamSAML:
		cfg = map[string]any{
			"ssoURL": up.SSOURL, "caData": []byte(up.CA),
			"redirectURI":  strings.TrimRight(d.Issuer, "/") + "/callback",
			"usernameAttr": "name", "emailAttr": "email",
		}
	}
	return json.Marshal(cfg)
}

// apply creates or updates one of Dex's objects so that it has fields,
// writing nothing when it already has them.
func (d *Dex) apply(ctx context.Context, gvk schema.GroupVersionKind, id, owner string, fields map[string]any) (bool, error) {
	// Round-trip through JSON so the comparison sees what the server stores.
	raw, err := json.Marshal(fields)
	if err != nil {
		return false, err
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		return false, err
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	key := client.ObjectKey{Namespace: d.Namespace, Name: dexName(gvk, id)}
	err = d.Client.Get(ctx, key, obj)
	switch {
	case apierrors.IsNotFound(err):
		obj = &unstructured.Unstructured{Object: want}
		obj.SetGroupVersionKind(gvk)
		obj.SetNamespace(key.Namespace)
		obj.SetName(key.Name)
		obj.SetAnnotations(map[string]string{dexOwnerAnnotation: owner})
		obj.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "plattr"})
		if err := d.Client.Create(ctx, obj); err != nil {
			return false, d.writeErr(gvk, id, err)
		}
		return true, nil
	case err != nil:
		return false, d.writeErr(gvk, id, err)
	}
	if got := obj.GetAnnotations()[dexOwnerAnnotation]; got != owner {
		return false, fmt.Errorf("%w: Dex %s %q belongs to %q", ErrConflict, gvk.Kind, id, got)
	}
	same := true
	for k, v := range want {
		if !reflect.DeepEqual(obj.Object[k], v) {
			same = false
			obj.Object[k] = v
		}
	}
	if same {
		return false, nil
	}
	if err := d.Client.Update(ctx, obj); err != nil {
		return false, d.writeErr(gvk, id, err)
	}
	return true, nil
}

// writeErr names Dex when its custom resources are not installed (Dex
// creates them on its first start).
func (d *Dex) writeErr(gvk schema.GroupVersionKind, id string, err error) error {
	if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
		return d.unavailable(fmt.Errorf("Dex's custom resources (%s) are not installed: start Dex with Kubernetes storage once", gvk.GroupKind()))
	}
	return fmt.Errorf("writing Dex %s %q: %w", gvk.Kind, id, err)
}

// removeStaleConnectors deletes this client's connectors for providers the
// app no longer lists.
func (d *Dex) removeStaleConnectors(ctx context.Context, c Client, keep []string) error {
	for _, typ := range []string{UpstreamGoogle, UpstreamGitHub, UpstreamOIDC, UpstreamSAML} {
		id := DexConnectorID(c.Realm, typ)
		// Earlier versions stored connectors under the clients' encoding
		// of the ID, where Dex never found them: those go in any case.
		if err := d.deleteOwnedNamed(ctx, dexConnectorGVK, DexObjectName(id), id, c.Owner); err != nil {
			return err
		}
		if slices.Contains(keep, id) {
			continue
		}
		if err := d.deleteOwned(ctx, dexConnectorGVK, id, c.Owner); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dex) deleteOwned(ctx context.Context, gvk schema.GroupVersionKind, id, owner string) error {
	return d.deleteOwnedNamed(ctx, gvk, dexName(gvk, id), id, owner)
}

func (d *Dex) deleteOwnedNamed(ctx context.Context, gvk schema.GroupVersionKind, name, id, owner string) error {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	err := d.Client.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Dex %s %q: %w", gvk.Kind, id, err)
	}
	if obj.GetAnnotations()[dexOwnerAnnotation] != owner {
		return nil // someone else's: leave it
	}
	if err := d.Client.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting Dex %s %q: %w", gvk.Kind, id, err)
	}
	return nil
}

func (d *Dex) Remove(ctx context.Context, c Client) error {
	if err := d.removeStaleConnectors(ctx, c, nil); err != nil {
		return err
	}
	return d.deleteOwned(ctx, dexClientGVK, c.Realm, c.Owner)
}

func toAny(ss []string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}
