package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/messaging"
	"github.com/plattr/plattr/internal/controller/kit"
)

// UserReconciler reconciles NatsUsers.
type UserReconciler struct {
	kit.Deps
	NATS Config

	// afterRevoke, in tests, runs between a rotation's revocation (pushed)
	// and the Secret's write: an error there is the operator dying between
	// the two external calls.
	afterRevoke func() error

	kit      *kit.Kit[*platformv1.NatsUser]
	provider *provider
}

// +kubebuilder:rbac:groups=platform.internal,resources=natsusers,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=natsusers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=natsusers/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete

// SetupWithManager registers the controller.
func (r *UserReconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	r.kit = kit.New("natsuser", r.Deps, func() *platformv1.NatsUser { return &platformv1.NatsUser{} })
	r.provider = &provider{cfg: r.NATS, reader: r.APIReader}
	wake, err := r.kit.Watch(mgr, map[string]func(context.Context) error{messaging.BackendNATS: r.provider.ping})
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&platformv1.NatsUser{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// The credentials Secret changed or went by someone else's hand.
		Owns(&corev1.Secret{}).
		// An account's change (pushed, its selector) comes to its users.
		Watches(&platformv1.NatsAccount{}, handler.EnqueueRequestsFromMapFunc(r.usersOf)).
		WatchesRawSource(wake).
		WithOptions(controller.Options{SkipNameValidation: &skipNameValidation, RateLimiter: kit.RetryLimiter(r.Config.RetryMaxBackoff)}).
		Named("natsuser").
		Complete(r)
}

func (r *UserReconciler) usersOf(ctx context.Context, o client.Object) []ctrl.Request {
	if o.GetNamespace() != r.NATS.PlatformNamespace {
		return nil
	}
	list := &platformv1.NatsUserList{}
	if err := r.List(ctx, list); err != nil {
		return nil
	}
	var out []ctrl.Request
	for _, u := range list.Items {
		if u.Spec.AccountRef.Name == o.GetName() {
			out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&u)})
		}
	}
	return out
}

// Reconcile keeps one NatsUser's credentials: created once, re-signed only
// when needed, rotated only when asked.
func (r *UserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	u := &platformv1.NatsUser{}
	if err := r.Get(ctx, req.NamespacedName, u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	run := kit.Begin(u)
	if !u.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, run)
	}
	if err := r.kit.EnsureMetadata(ctx, run, kit.AddFinalizers[*platformv1.NatsUser]([]string{platformv1.FinalizerNatsUser})); err != nil {
		return ctrl.Result{}, err
	}
	resync := r.ensure(ctx, run)
	v := kit.Verdict{
		NotReady: kit.FirstNotReady(u, platformv1.ConditionAccepted, platformv1.ConditionCredentialsIssued),
		Ready:    "credentials issued", Resync: resync, Settle: 5 * time.Second,
	}
	result, err := r.kit.Finish(run, v)
	if u.Status.ExpiresAt != nil {
		CredentialsExpiry.WithLabelValues(u.Namespace, u.Name).Set(float64(u.Status.ExpiresAt.Unix()))
	}
	return result, errors.Join(err, r.kit.Patch(ctx, run))
}

// ensure runs the steps; it returns when to look again (the renewal time).
func (r *UserReconciler) ensure(ctx context.Context, run *kit.Run[*platformv1.NatsUser]) time.Duration {
	u := run.Obj
	setAccepted := func(status metav1.ConditionStatus, reason, msg string) {
		capability.SetCondition(u, platformv1.ConditionAccepted, status, reason, msg)
	}
	acct, err := r.account(ctx, u)
	if err != nil {
		setAccepted(metav1.ConditionFalse, platformv1.ReasonAccountNotFound, err.Error())
		if apierrors.IsNotFound(errors.Unwrap(err)) {
			run.Waiting = true
		} else {
			run.Fail(err)
		}
		return 0
	}
	if msg, err := r.allowed(ctx, u, acct); err != nil {
		run.Fail(err)
		return 0
	} else if msg != "" {
		setAccepted(metav1.ConditionFalse, platformv1.ReasonNotAllowed, msg)
		// A namespace the account no longer selects loses what it had.
		if err := r.withdraw(ctx, u, acct); err != nil {
			r.kit.Record(run, "nats", nil, fmt.Errorf("withdrawing the credentials: %w", err))
			return 0
		}
		run.Fail(capability.Terminal(errors.New(msg)))
		return 0
	}
	granted, err := messaging.Grant(u.Namespace, acct.Spec, u.Spec.Permissions)
	if err != nil {
		setAccepted(metav1.ConditionFalse, platformv1.ReasonNotAllowed, err.Error())
		run.Fail(capability.Terminal(err))
		return 0
	}
	setAccepted(metav1.ConditionTrue, platformv1.ReasonValid, fmt.Sprintf("namespace %s may use NatsAccount %s with these subjects", u.Namespace, acct.Name))
	if acct.Status.AccountPublicKey == "" || !isTrue(acct, platformv1.ConditionPushed) {
		capability.SetCondition(u, platformv1.ConditionCredentialsIssued, metav1.ConditionFalse, platformv1.ReasonAccountNotFound,
			fmt.Sprintf("waiting for NatsAccount %s/%s to be pushed", acct.Namespace, acct.Name))
		return 0
	}
	m, err := r.provider.get(ctx)
	if err != nil {
		capability.SetCondition(u, platformv1.ConditionCredentialsIssued, metav1.ConditionFalse, platformv1.ReasonMessagingNotConfigured, err.Error())
		r.kit.Record(run, "nats", nil, err)
		return 0
	}
	resync, err := r.credentials(ctx, run, acct, m, granted)
	if err != nil {
		reason := platformv1.ReasonApplyFailed
		if errors.Is(err, capability.ErrSecretConflict) {
			reason = platformv1.ReasonSecretConflict
		}
		capability.SetCondition(u, platformv1.ConditionCredentialsIssued, metav1.ConditionFalse, reason, err.Error())
		r.kit.Record(run, "nats", nil, err)
	}
	return resync
}

// account is the user's NatsAccount, always from the platform namespace:
// one a team made in its own namespace is never used.
func (r *UserReconciler) account(ctx context.Context, u *platformv1.NatsUser) (*platformv1.NatsAccount, error) {
	acct := &platformv1.NatsAccount{}
	key := client.ObjectKey{Namespace: r.NATS.PlatformNamespace, Name: u.Spec.AccountRef.Name}
	if err := r.Get(ctx, key, acct); err != nil {
		return nil, fmt.Errorf("spec.accountRef: NatsAccount %s/%s: %w", key.Namespace, key.Name, err)
	}
	if !acct.DeletionTimestamp.IsZero() {
		return nil, fmt.Errorf("spec.accountRef: NatsAccount %s/%s is being deleted", key.Namespace, key.Name)
	}
	return acct, nil
}

// allowed says why the user's namespace may not use the account ("" when
// it may).
func (r *UserReconciler) allowed(ctx context.Context, u *platformv1.NatsUser, acct *platformv1.NatsAccount) (string, error) {
	ns := &corev1.Namespace{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: u.Namespace}, ns); err != nil {
		return "", err
	}
	ok, err := selects(acct.Spec.NamespaceSelector, ns.Labels)
	if err != nil {
		return fmt.Sprintf("NatsAccount %s's spec.namespaceSelector is invalid: %v", acct.Name, err), nil
	}
	if !ok {
		return fmt.Sprintf("namespace %s is not selected by NatsAccount %s's spec.namespaceSelector; ask the platform team to select it", u.Namespace, acct.Name), nil
	}
	return "", nil
}

// credentials brings the Secret in line: Keep writes nothing.
func (r *UserReconciler) credentials(ctx context.Context, run *kit.Run[*platformv1.NatsUser], acct *platformv1.NatsAccount, m *messaging.Capability, g platformv1.NatsGranted) (time.Duration, error) {
	u := run.Obj
	st, err := loadAccount(ctx, r.Client, r.APIReader, acct, false)
	if err != nil {
		return 0, err
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: u.Namespace, Name: u.Spec.CredentialsSecret.Name}
	err = r.APIReader.Get(ctx, key, secret)
	switch {
	case apierrors.IsNotFound(err):
		secret = nil
	case err != nil:
		return 0, err
	case secret.Annotations[platformv1.AnnotationNatsOwner] != string(u.UID):
		return 0, capability.Terminal(fmt.Errorf("%w: spec.credentialsSecret %s/%s exists and is not this NatsUser's; it is never overwritten: delete it or name another Secret",
			capability.ErrSecretConflict, key.Namespace, key.Name))
	}
	cur := messaging.Current{}
	if secret != nil {
		cur = messaging.Current{Creds: secret.Data[platformv1.NatsCredsKey], Rotation: secret.Annotations[platformv1.AnnotationNatsRotation]}
	}
	expiresIn, renewBefore := messaging.Lifetime(u.Spec)
	want := func(pub string) *jwt.UserClaims {
		return messaging.UserClaims(st.pub, pub, u.Namespace+"/"+u.Name, u.Spec, g)
	}
	now := r.kit.Now()
	plan := messaging.Decide(cur, u.Spec.Rotation, st.pub, want, expiresIn, renewBefore, now)
	claims := plan.Claims
	if plan.Action != messaging.Keep {
		key := plan.Key
		if plan.Action == messaging.NewKey {
			if plan.Old != "" {
				// The old key is revoked on the server before the Secret
				// changes; the Secret's write is the commit point, so a
				// crash anywhere before it converges on one new key.
				if err := revoke(ctx, r.Client, r.APIReader, m, acct, plan.Old, now); err != nil {
					capability.SetCondition(u, platformv1.ConditionRevoked, metav1.ConditionFalse, platformv1.ReasonPushRefused, fmt.Sprintf("revoking key %s: %v", plan.Old, err))
					return 0, fmt.Errorf("revoking the old key before the rotation: %w", err)
				}
				if r.afterRevoke != nil {
					if err := r.afterRevoke(); err != nil {
						return 0, err
					}
				}
			}
			if key, err = messaging.NewUserKey(); err != nil {
				return 0, err
			}
		}
		pub, _ := key.PublicKey()
		var creds []byte
		if creds, claims, err = messaging.Sign(st.key, key, want(pub), expiresIn, now); err != nil {
			return 0, err
		}
		replaced := ""
		if secret != nil {
			replaced = secret.Annotations[platformv1.AnnotationNatsReplaced]
		}
		if plan.Action == messaging.NewKey {
			replaced = plan.Old
		}
		if err := r.writeSecret(ctx, u, secret, creds, replaced); err != nil {
			return 0, err
		}
		r.Recorder.Eventf(u, nil, corev1.EventTypeNormal, "CredentialsIssued", "Issue", "%s for key %s: %s", plan.Action, pub, plan.Why)
	}
	u.Status.UserPublicKey = claims.Subject
	u.Status.ClaimsHash = messaging.UserHash(claims)
	issued, expires := metav1.NewTime(time.Unix(claims.IssuedAt, 0)), metav1.NewTime(time.Unix(claims.Expires, 0))
	u.Status.IssuedAt, u.Status.ExpiresAt = &issued, &expires
	u.Status.Subjects = &g
	capability.SetCondition(u, platformv1.ConditionCredentialsIssued, metav1.ConditionTrue, platformv1.ReasonIssued,
		fmt.Sprintf("Secret %s key %s holds the creds of key %s", u.Spec.CredentialsSecret.Name, platformv1.NatsCredsKey, claims.Subject))
	// Revoked is read from what is stored: the key the Secret's replaced,
	// and the account's revocations.
	if secret != nil && plan.Action == messaging.Keep {
		if old := secret.Annotations[platformv1.AnnotationNatsReplaced]; old != "" {
			if _, ok := st.revocations[old]; ok {
				capability.SetCondition(u, platformv1.ConditionRevoked, metav1.ConditionTrue, platformv1.ReasonRevoked,
					fmt.Sprintf("the previous key %s is revoked on the server", old))
			}
		}
	} else if plan.Action == messaging.NewKey && plan.Old != "" {
		capability.SetCondition(u, platformv1.ConditionRevoked, metav1.ConditionTrue, platformv1.ReasonRevoked,
			fmt.Sprintf("the previous key %s is revoked on the server", plan.Old))
	}
	renewAt := expires.Add(-renewBefore)
	if now.Before(renewAt) {
		capability.SetCondition(u, platformv1.ConditionExpiring, metav1.ConditionFalse, platformv1.ReasonValid, "re-signed (same key) from "+renewAt.UTC().Format(time.RFC3339))
	} else {
		capability.SetCondition(u, platformv1.ConditionExpiring, metav1.ConditionTrue, platformv1.ReasonRenewDue, "expires at "+expires.UTC().Format(time.RFC3339))
	}
	// Looked at again when renewal is due (at most a day, to see drift).
	return min(max(time.Until(renewAt), time.Second), 24*time.Hour), nil
}

// writeSecret creates the Secret or updates the one this user owns (with
// optimistic locking: a change since it was read fails and retries).
func (r *UserReconciler) writeSecret(ctx context.Context, u *platformv1.NatsUser, existing *corev1.Secret, creds []byte, replaced string) error {
	annotations := map[string]string{platformv1.AnnotationNatsOwner: string(u.UID), platformv1.AnnotationNatsRotation: u.Spec.Rotation}
	if replaced != "" {
		annotations[platformv1.AnnotationNatsReplaced] = replaced
	}
	if existing == nil {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: u.Namespace, Name: u.Spec.CredentialsSecret.Name,
				Labels:          map[string]string{platformv1.LabelManagedBy: platformv1.ManagedByValue},
				Annotations:     annotations,
				OwnerReferences: []metav1.OwnerReference{ownerRef(u, "NatsUser")}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{platformv1.NatsCredsKey: creds},
		}
		if err := r.Create(ctx, s); err != nil {
			return err
		}
		SecretWrites.Inc()
		return nil
	}
	s := existing.DeepCopy()
	for k, v := range annotations {
		metav1.SetMetaDataAnnotation(&s.ObjectMeta, k, v)
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[platformv1.NatsCredsKey] = creds
	if err := r.Update(ctx, s); err != nil {
		return err
	}
	SecretWrites.Inc()
	return nil
}

// reconcileDelete revokes the key (deletionPolicy Revoke) — recorded and
// pushed, code 200 — before the finalizer goes; the Secret goes with its
// owner. With Orphan the creds keep working, so their Secret must stay
// too: its owner reference to the user is dropped first, or the garbage
// collector would delete the only copy of working creds.
func (r *UserReconciler) reconcileDelete(ctx context.Context, run *kit.Run[*platformv1.NatsUser]) (ctrl.Result, error) {
	u := run.Obj
	if !controllerutil.ContainsFinalizer(u, platformv1.FinalizerNatsUser) {
		return ctrl.Result{}, nil
	}
	policy := u.Spec.DeletionPolicy
	if policy == "" {
		policy = platformv1.NatsDeletionRevoke
	}
	step := kit.Step{Finalizer: platformv1.FinalizerNatsUser, What: "the user's key", Backend: "the NATS server (NATS_URL)", Wake: messaging.BackendNATS,
		Configured: r.NATS.URL != "", Run: func(ctx context.Context) error {
			if policy == platformv1.NatsDeletionOrphan {
				return r.orphanSecret(ctx, u)
			}
			return r.revokeOnDelete(ctx, u)
		}}
	res, err := r.kit.Cleanup(ctx, run, "NatsUser", string(policy), []kit.Step{step})
	if err == nil {
		CredentialsExpiry.DeleteLabelValues(u.Namespace, u.Name)
	}
	return res, err
}

// orphanSecret drops the user's owner reference from its credentials
// Secret (only one the user made: the UID annotation), keeping the rest.
// The annotation stays: a new NatsUser of the same name has another UID, so
// it never takes over the orphaned creds (SecretConflict).
func (r *UserReconciler) orphanSecret(ctx context.Context, u *platformv1.NatsUser) error {
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: u.Spec.CredentialsSecret.Name}, secret); err != nil {
		return client.IgnoreNotFound(err)
	}
	if secret.Annotations[platformv1.AnnotationNatsOwner] != string(u.UID) {
		return nil
	}
	refs := secret.GetOwnerReferences()
	kept := refs[:0:0]
	for _, ref := range refs {
		if ref.UID != u.UID {
			kept = append(kept, ref)
		}
	}
	if len(kept) == len(refs) {
		return nil
	}
	before := secret.DeepCopy()
	secret.SetOwnerReferences(kept)
	// Optimistic lock: a Secret changed since the read is read again.
	return r.Patch(ctx, secret, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

func (r *UserReconciler) revokeOnDelete(ctx context.Context, u *platformv1.NatsUser) error {
	keys := map[string]bool{}
	if u.Status.UserPublicKey != "" {
		keys[u.Status.UserPublicKey] = true
	}
	// The Secret's key too: a crash may have stored it before the status.
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: u.Spec.CredentialsSecret.Name}, secret); err == nil &&
		secret.Annotations[platformv1.AnnotationNatsOwner] == string(u.UID) {
		if kp, err := jwt.ParseDecoratedNKey(secret.Data[platformv1.NatsCredsKey]); err == nil {
			if pub, err := kp.PublicKey(); err == nil {
				keys[pub] = true
			}
		}
	} else if client.IgnoreNotFound(err) != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	acct := &platformv1.NatsAccount{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: r.NATS.PlatformNamespace, Name: u.Spec.AccountRef.Name}, acct); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // no account: no credentials of it can connect
		}
		return err
	}
	m, err := r.provider.get(ctx)
	if err != nil {
		return err
	}
	for k := range keys {
		if err := revoke(ctx, r.Client, r.APIReader, m, acct, k, r.kit.Now()); err != nil {
			return err
		}
	}
	return nil
}

func isTrue(o capability.Owner, typ string) bool {
	c := capability.Condition(o, typ)
	return c != nil && c.Status == metav1.ConditionTrue
}

// withdraw revokes the key in the user's Secret (pushed, code 200) and
// deletes the Secret: the account no longer selects the namespace.
func (r *UserReconciler) withdraw(ctx context.Context, u *platformv1.NatsUser, acct *platformv1.NatsAccount) error {
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: u.Namespace, Name: u.Spec.CredentialsSecret.Name}, secret)
	if apierrors.IsNotFound(err) || (err == nil && secret.Annotations[platformv1.AnnotationNatsOwner] != string(u.UID)) {
		return nil
	}
	if err != nil {
		return err
	}
	if kp, perr := jwt.ParseDecoratedNKey(secret.Data[platformv1.NatsCredsKey]); perr == nil {
		pub, _ := kp.PublicKey()
		m, err := r.provider.get(ctx)
		if err != nil {
			return err
		}
		if err := revoke(ctx, r.Client, r.APIReader, m, acct, pub, r.kit.Now()); err != nil {
			return err
		}
		r.Recorder.Eventf(u, nil, corev1.EventTypeWarning, "CredentialsWithdrawn", "Revoke",
			"key %s revoked: NatsAccount %s no longer selects namespace %s", pub, acct.Name, u.Namespace)
	}
	if err := r.Delete(ctx, secret, client.Preconditions{UID: &secret.UID}); client.IgnoreNotFound(err) != nil {
		return err
	}
	u.Status.UserPublicKey, u.Status.ClaimsHash, u.Status.IssuedAt, u.Status.ExpiresAt, u.Status.Subjects = "", "", nil, nil, nil
	capability.SetCondition(u, platformv1.ConditionCredentialsIssued, metav1.ConditionFalse, platformv1.ReasonNotAllowed, "credentials withdrawn: the namespace is not selected")
	CredentialsExpiry.DeleteLabelValues(u.Namespace, u.Name)
	return nil
}
