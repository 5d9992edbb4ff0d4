package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/messaging"
	"github.com/plattr/plattr/internal/controller/kit"
)

// AccountReconciler reconciles NatsAccounts.
type AccountReconciler struct {
	kit.Deps
	NATS Config
	// Resync is how often the server's copy is compared (it may have lost
	// its resolver directory); default 10 minutes.
	Resync time.Duration

	kit      *kit.Kit[*platformv1.NatsAccount]
	provider *provider
}

// +kubebuilder:rbac:groups=platform.internal,resources=natsaccounts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=natsaccounts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=platform.internal,resources=natsaccounts/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// SetupWithManager registers the controller.
func (r *AccountReconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	r.kit = kit.New("natsaccount", r.Deps, func() *platformv1.NatsAccount { return &platformv1.NatsAccount{} })
	r.provider = &provider{cfg: r.NATS, reader: r.APIReader}
	wake, err := r.kit.Watch(mgr, map[string]func(context.Context) error{messaging.BackendNATS: r.provider.ping})
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&platformv1.NatsAccount{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(wake).
		WithOptions(controller.Options{SkipNameValidation: &skipNameValidation, RateLimiter: kit.RetryLimiter(r.Config.RetryMaxBackoff)}).
		Named("natsaccount").
		Complete(r)
}

// Reconcile keeps one account's key and its claims on the server.
func (r *AccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	a := &platformv1.NatsAccount{}
	if err := r.Get(ctx, req.NamespacedName, a); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	run := kit.Begin(a)
	if !a.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, run)
	}
	if a.Namespace != r.NATS.PlatformNamespace {
		// Never honoured: a team's own account would sign its own users.
		capability.SetCondition(a, platformv1.ConditionPushed, metav1.ConditionFalse, platformv1.ReasonNotHonoured,
			fmt.Sprintf("NatsAccounts are honoured only in the platform namespace %s; ask the platform team", r.NATS.PlatformNamespace))
		run.Fail(capability.Terminal(errors.New("not in the platform namespace")))
		result, err := r.kit.Finish(run, kit.Verdict{NotReady: capability.Condition(a, platformv1.ConditionPushed)})
		return result, errors.Join(err, r.kit.Patch(ctx, run))
	}
	if err := r.kit.EnsureMetadata(ctx, run, kit.AddFinalizers[*platformv1.NatsAccount]([]string{platformv1.FinalizerNatsAccount})); err != nil {
		return ctrl.Result{}, err
	}
	r.push(ctx, run)
	resync := r.Resync
	if resync == 0 {
		resync = 10 * time.Minute
	}
	v := kit.Verdict{NotReady: kit.FirstNotReady(a, platformv1.ConditionPushed), Ready: "pushed; the server holds the account", Resync: resync}
	result, err := r.kit.Finish(run, v)
	return result, errors.Join(err, r.kit.Patch(ctx, run))
}

func (r *AccountReconciler) push(ctx context.Context, run *kit.Run[*platformv1.NatsAccount]) {
	a := run.Obj
	st, err := loadAccount(ctx, r.Client, r.APIReader, a, true)
	if err != nil {
		reason := platformv1.ReasonApplyFailed
		if errors.Is(err, capability.ErrSecretConflict) {
			reason = platformv1.ReasonSecretConflict
		}
		capability.SetCondition(a, platformv1.ConditionPushed, metav1.ConditionFalse, reason, err.Error())
		run.Fail(err)
		return
	}
	a.Status.AccountPublicKey = st.pub
	m, err := r.provider.get(ctx)
	if err != nil {
		capability.SetCondition(a, platformv1.ConditionPushed, metav1.ConditionFalse, platformv1.ReasonMessagingNotConfigured, err.Error())
		r.kit.Record(run, "nats", nil, err)
		return
	}
	hash, pushed, err := m.EnsureAccount(ctx, a.Name, st.pub, st.revocations)
	if err != nil {
		reason := platformv1.ReasonBackendUnavailable
		if messaging.IsRefused(err) {
			reason = platformv1.ReasonPushRefused
		}
		capability.SetCondition(a, platformv1.ConditionPushed, metav1.ConditionFalse, reason, err.Error())
		r.kit.Record(run, "nats", nil, err)
		return
	}
	if pushed {
		r.Recorder.Eventf(a, nil, "Normal", "AccountPushed", "Push", "account %s pushed; the server answered code 200", st.pub)
	}
	a.Status.ClaimsHash = hash
	capability.SetCondition(a, platformv1.ConditionPushed, metav1.ConditionTrue, platformv1.ReasonProvisioned, "the server's resolver holds these claims (code 200)")
}

// reconcileDelete waits for the account's users to go (each revokes its key
// through the account first); the account's Secret goes with it.
func (r *AccountReconciler) reconcileDelete(ctx context.Context, run *kit.Run[*platformv1.NatsAccount]) (ctrl.Result, error) {
	a := run.Obj
	if !controllerutil.ContainsFinalizer(a, platformv1.FinalizerNatsAccount) {
		return ctrl.Result{}, nil
	}
	list := &platformv1.NatsUserList{}
	if err := r.List(ctx, list); err != nil {
		return ctrl.Result{}, err
	}
	n := 0
	for _, u := range list.Items {
		if u.Spec.AccountRef.Name == a.Name {
			n++
		}
	}
	if n > 0 {
		kit.Terminating(run, fmt.Sprintf("waiting for %d NatsUser(s) of the account to be deleted", n))
		return ctrl.Result{RequeueAfter: 5 * time.Second}, r.kit.Patch(ctx, run)
	}
	return ctrl.Result{}, r.kit.RemoveFinalizers(ctx, a, platformv1.FinalizerNatsAccount)
}
