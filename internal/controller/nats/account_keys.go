package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nkeys"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/messaging"
)

// accountSecretName is where a NatsAccount's key and revocations live, in
// the platform namespace.
func accountSecretName(account string) string { return "plattr-nats-account-" + account }

// Keys of an account's Secret.
const (
	keySeed        = "seed"
	keyRevocations = "revocations"
)

// accountState is an account's Secret: its key, made once, and the user
// keys it revoked (public key → unix time).
type accountState struct {
	secret      *corev1.Secret
	key         nkeys.KeyPair
	pub         string
	revocations map[string]int64
}

// loadAccount reads the account's Secret past the cache; with create, a
// missing one is made (the key, once). A Secret the account does not own
// is a conflict: never overwritten.
func loadAccount(ctx context.Context, c client.Client, reader client.Reader, acct *platformv1.NatsAccount, create bool) (*accountState, error) {
	s := &corev1.Secret{}
	key := client.ObjectKey{Namespace: acct.Namespace, Name: accountSecretName(acct.Name)}
	err := reader.Get(ctx, key, s)
	switch {
	case apierrors.IsNotFound(err) && create:
		kp, kerr := nkeys.CreateAccount()
		if kerr != nil {
			return nil, kerr
		}
		seed, _ := kp.Seed()
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
				Labels:          map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue},
				Annotations:     map[string]string{platformv1.AnnotationNatsOwner: string(acct.UID)},
				OwnerReferences: []metav1.OwnerReference{ownerRef(acct, "NatsAccount")}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{keySeed: seed, keyRevocations: []byte("{}")},
		}
		if err := c.Create(ctx, s); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case s.Annotations[platformv1.AnnotationNatsOwner] != string(acct.UID):
		return nil, capability.Terminal(fmt.Errorf("%w: %s/%s; delete it or rename the NatsAccount", capability.ErrSecretConflict, key.Namespace, key.Name))
	}
	kp, err := nkeys.FromSeed(s.Data[keySeed])
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s: the account key does not parse: %w", key.Namespace, key.Name, err)
	}
	pub, _ := kp.PublicKey()
	revs := map[string]int64{}
	if b := s.Data[keyRevocations]; len(b) > 0 {
		if err := json.Unmarshal(b, &revs); err != nil {
			return nil, fmt.Errorf("Secret %s/%s: revocations: %w", key.Namespace, key.Name, err)
		}
	}
	return &accountState{secret: s, key: kp, pub: pub, revocations: revs}, nil
}

// revoke records userPublicKey in the account's revocations (one Secret
// write, with optimistic locking: two revocations at once retry) and pushes
// the account; nil only once the server answered code 200 (or already
// holds it). Recording first means a crash before the push pushes on the
// next try; recording twice keeps the first time.
func revoke(ctx context.Context, c client.Client, reader client.Reader, m *messaging.Capability, acct *platformv1.NatsAccount, userPublicKey string, now time.Time) error {
	st, err := loadAccount(ctx, c, reader, acct, false)
	if err != nil {
		return err
	}
	if _, ok := st.revocations[userPublicKey]; !ok {
		st.revocations[userPublicKey] = now.Unix()
		b, _ := json.Marshal(st.revocations)
		st.secret.Data[keyRevocations] = b
		if err := c.Update(ctx, st.secret); err != nil {
			return err
		}
	}
	_, _, err = m.EnsureAccount(ctx, acct.Name, st.pub, st.revocations)
	return err
}

func ownerRef(obj client.Object, kind string) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: platformv1.GroupVersion.String(), Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), Controller: &t, BlockOwnerDeletion: &t}
}
