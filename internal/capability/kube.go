package capability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/metrics"
)

// Kube is how capabilities read and write Kubernetes.
type Kube struct {
	// Client reads from the operator's cache, which holds only objects
	// Plattr labelled, and writes to the API server.
	Client client.Client
	// APIReader reads past the cache: Secrets the app references are not
	// cached, and a cache miss must be confirmed before credentials rotate.
	APIReader client.Reader
	Recorder  events.EventRecorder
}

// Event records an Event on the target's owner.
func (k Kube) Event(t Target, kind, reason, action, format string, args ...any) {
	k.Recorder.Eventf(t.Owner, nil, kind, reason, action, format, args...)
}

// ApplyConfiguration is a typed server-side apply configuration of a child.
type ApplyConfiguration interface {
	runtime.ApplyConfiguration
	GetName() *string
	GetNamespace() *string
	GetKind() *string
}

// Apply writes desired with server-side apply — unless the fields Plattr
// owns on the live object already equal it, so a reconcile that changes
// nothing writes nothing. A field someone else changed has left Plattr's
// ownership, so the comparison catches hand edits and the forced apply
// takes the field back.
func Apply[O client.Object, A ApplyConfiguration](ctx context.Context, k Kube, t Target, live O, desired A, extract func(O, string) (A, error)) (err error) {
	start, written := time.Now(), false
	defer func() { observeApply(*desired.GetKind(), start, written, err) }()
	key := client.ObjectKey{Namespace: *desired.GetNamespace(), Name: *desired.GetName()}
	err = k.Client.Get(ctx, key, live)
	if apierrors.IsNotFound(err) && k.APIReader != nil && carriesController(desired, t) {
		// Missing from the cache, which holds only Plattr's labelled
		// objects: most likely a new child. An apply without force
		// creates it in one request, where reading past the cache first
		// cost a second one (a third of a burst's requests). It cannot
		// take over what exists: a field another manager set makes it a
		// conflict, and a second controller reference is refused by the
		// API server — both leave the object as it was and fall through
		// to the read below, which names the owner or takes the fields
		// back as before.
		written = true
		switch aerr := k.Client.Apply(ctx, desired, client.FieldOwner(FieldManager)); {
		case aerr == nil:
			k.restored(t, *desired.GetKind(), key.Name)
			return nil
		case !apierrors.IsConflict(aerr) && !apierrors.IsInvalid(aerr):
			return aerr
		}
		written = false
	}
	if apierrors.IsNotFound(err) && k.APIReader != nil {
		// The cache holds only Plattr's labelled objects: one of this name
		// without the label must not be taken over unseen.
		if err = k.APIReader.Get(ctx, key, live); err == nil {
			if err := controlledByOther(t, live, *desired.GetKind()); err != nil {
				return err
			}
			owned, err := extract(live, FieldManager)
			if err == nil && equality.Semantic.DeepEqual(owned, desired) {
				return nil
			}
		}
	}
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	default:
		if err := controlledByOther(t, live, *desired.GetKind()); err != nil {
			return err
		}
		owned, err := extract(live, FieldManager)
		if err == nil && equality.Semantic.DeepEqual(owned, desired) {
			return nil
		}
	}
	written = true
	if err := k.Client.Apply(ctx, desired, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return err
	}
	k.restored(t, *desired.GetKind(), key.Name)
	return nil
}

// restored says an apply of a settled target wrote: running at this
// generation, yet the object was missing or differed, so it was deleted or
// edited by hand.
func (k Kube) restored(t Target, kind, name string) {
	if t.Settled {
		k.Event(t, corev1.EventTypeWarning, platformv1.EventRestored, "Restore",
			"%s %s was changed or deleted outside Plattr and has been restored", kind, name)
	}
}

// carriesController reports whether desired names t's controller as its
// controller owner reference: only then does a second controller on the
// live object make the API server refuse the apply.
func carriesController(desired runtime.ApplyConfiguration, t Target) bool {
	raw, err := json.Marshal(desired)
	if err != nil {
		return false
	}
	var obj struct {
		Metadata struct {
			OwnerReferences []struct {
				UID        string `json:"uid"`
				Controller *bool  `json:"controller"`
			} `json:"ownerReferences"`
		} `json:"metadata"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return false
	}
	for _, ref := range obj.Metadata.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && ref.UID == string(t.Controller.UID) && ref.UID != "" {
			return true
		}
	}
	return false
}

// observeApply times one Apply in plattr_apply_duration_seconds: unchanged
// (compared, nothing written), applied, or error (whether or not the apply
// was sent).
func observeApply(kind string, start time.Time, written bool, err error) {
	result := "unchanged"
	switch {
	case err != nil:
		result = "error"
	case written:
		result = "applied"
	}
	metrics.ApplyDuration.WithLabelValues(kind, result).Observe(time.Since(start).Seconds())
}

// ErrControlledByOther: an object of the name a capability writes is
// controlled by another owner (another app, a Helm release, …); Plattr
// never applies over it.
var ErrControlledByOther = errors.New("the object is controlled by another owner")

// controlledByOther refuses a live object whose controller is not the
// target's: a forced apply would take it over (and two owners applying one
// object rewrite it for ever).
func controlledByOther(t Target, live client.Object, kind string) error {
	ref := metav1.GetControllerOf(live)
	if ref == nil || ref.UID == t.Controller.UID {
		return nil
	}
	return fmt.Errorf("%w: %s %s/%s is controlled by %s %s; Plattr does not overwrite it (rename or delete it)",
		ErrControlledByOther, kind, live.GetNamespace(), live.GetName(), ref.Kind, ref.Name)
}

// Delete removes a child the spec no longer asks for, if the target owns it.
func (k Kube) Delete(ctx context.Context, t Target, obj client.Object, name string) error {
	err := k.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !t.Owns(obj) {
		return nil // not ours: leave it
	}
	return client.IgnoreNotFound(k.Client.Delete(ctx, obj, client.Preconditions{UID: ptr.To(obj.GetUID())}))
}

// Secret reads a Secret from the cache and confirms a miss against the API
// server: acting on a stale miss would rotate working credentials. A Secret
// being deleted counts as missing.
func (k Kube) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	secret := &corev1.Secret{}
	err := k.Client.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		err = k.APIReader.Get(ctx, key, secret)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !secret.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return secret, nil
}

// CredentialsSecret reads the Secret a capability keeps its credentials
// in; nil when it does not exist yet. A Secret of that name another owner
// wrote is never read or taken over: condition says so and the error is
// ErrSecretConflict.
func (k Kube) CredentialsSecret(ctx context.Context, t Target, condition, name, holds string) (*corev1.Secret, error) {
	secret, err := k.Secret(ctx, t.Namespace, name)
	if err != nil || secret == nil {
		return nil, err
	}
	if !t.Owns(secret) {
		t.SetCondition(condition, metav1.ConditionFalse, platformv1.ReasonSecretConflict,
			fmt.Sprintf("Secret %s exists and is not managed by Plattr for %s; delete or rename it so Plattr can write %s", name, t.Owner.GetName(), holds))
		return nil, secretConflict(t.Namespace, name)
	}
	return secret, nil
}

// ApplyCredentials writes a credentials Secret. If the Secret existed when
// the reconcile read it and is gone now, someone deleted it meanwhile —
// which asks for new credentials — so it is not written back with the old
// ones: the condition says so and the next reconcile (moments later, the
// deletion is watched) issues new ones.
func (k Kube) ApplyCredentials(ctx context.Context, t Target, condition string, read *corev1.Secret, desired *corev1ac.SecretApplyConfiguration) error {
	if read != nil {
		now, err := k.Secret(ctx, read.Namespace, read.Name)
		if err != nil {
			return err
		}
		if now == nil || now.UID != read.UID {
			t.SetCondition(condition, metav1.ConditionFalse, platformv1.ReasonRotating,
				fmt.Sprintf("Secret %s was deleted during this reconcile; issuing new credentials", read.Name))
			return fmt.Errorf("%w: %s/%s", ErrRotationPending, read.Namespace, read.Name)
		}
	}
	return Apply(ctx, k, t, &corev1.Secret{}, desired, corev1ac.ExtractSecret)
}

// CredentialsApply is a Secret of the target with data.
func (t Target) CredentialsApply(name string, data map[string][]byte) *corev1ac.SecretApplyConfiguration {
	return corev1ac.Secret(name, t.Namespace).
		WithLabels(t.Labels).WithOwnerReferences(t.OwnerReference()).
		WithType(corev1.SecretTypeOpaque).WithData(data)
}

// Provide writes what a capability hands the app — a ConfigMap of settings
// and a Secret of credentials, both named name — and returns them as
// Sources. read is the Secret as the capability found it (see
// ApplyCredentials).
func (k Kube) Provide(ctx context.Context, t Target, from, condition, name string,
	config map[string]string, read *corev1.Secret, credentials map[string][]byte) ([]Source, error) {
	cm := corev1ac.ConfigMap(name, t.Namespace).
		WithLabels(t.Labels).WithOwnerReferences(t.OwnerReference()).WithData(config)
	if err := Apply(ctx, k, t, &corev1.ConfigMap{}, cm, corev1ac.ExtractConfigMap); err != nil {
		return nil, fmt.Errorf("writing ConfigMap %s: %w", name, err)
	}
	if err := k.ApplyCredentials(ctx, t, condition, read, t.CredentialsApply(name, credentials)); err != nil {
		return nil, fmt.Errorf("writing Secret %s: %w", name, err)
	}
	return []Source{
		{From: from, Kind: KindConfigMap, Name: name, Data: StringData(config)},
		{From: from, Kind: KindSecret, Name: name, Data: credentials},
	}, nil
}

// LastGood returns the Sources a capability wrote on an earlier reconcile —
// its Secret, and its ConfigMap when withConfig, as they are, if the target
// owns them — so an outage of the capability's backend does not stop a new
// image from rolling out. nil when there is no such configuration.
func (k Kube) LastGood(ctx context.Context, t Target, from, name string, withConfig bool) ([]Source, error) {
	key := client.ObjectKey{Namespace: t.Namespace, Name: name}
	secret := &corev1.Secret{}
	if err := k.Client.Get(ctx, key, secret); err != nil || !t.Owns(secret) || !secret.DeletionTimestamp.IsZero() {
		return nil, client.IgnoreNotFound(err)
	}
	var sources []Source
	if withConfig {
		cm := &corev1.ConfigMap{}
		if err := k.Client.Get(ctx, key, cm); err != nil || !t.Owns(cm) {
			return nil, client.IgnoreNotFound(err)
		}
		sources = append(sources, Source{From: from, Kind: KindConfigMap, Name: name, Data: StringData(cm.Data)})
	}
	return append(sources, Source{From: from, Kind: KindSecret, Name: name, Data: secret.Data}), nil
}

// StringData converts ConfigMap data to Secret-style bytes.
func StringData(m map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}
