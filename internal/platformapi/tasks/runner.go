package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// FieldManager is the platform API's server-side apply manager: the fields
// it sets on an Application are the ones an API user asked for.
const FieldManager = "plattr-api"

// Runner claims and runs due tasks.
type Runner struct {
	Store *store.Store
	// Client writes to the cluster; it must read live objects (no cache),
	// since a task acts on the state it finds.
	Client client.Client
	// Replica names this API process in claims.
	Replica string
	// Lease is how long a claim holds before another replica may take
	// the task over (its replica presumably stopped).
	Lease time.Duration
	Log   logr.Logger

	wake chan struct{}
}

// Wake makes the runner look for due tasks now (a NOTIFY arrived).
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx ends: it runs every due task, then sleeps until the
// next one is due, a notification arrives, or at most a few seconds (a
// missed notification costs that much delay, never a lost task).
func (r *Runner) Run(ctx context.Context) {
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
	}
	const maxSleep = 5 * time.Second
	for ctx.Err() == nil {
		for r.runOne(ctx) {
		}
		sleep := maxSleep
		if at, ok, err := r.Store.NextDue(ctx); err == nil && ok {
			sleep = min(max(time.Until(at), 10*time.Millisecond), maxSleep)
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Init prepares a runner whose Wake may be called before Run.
func (r *Runner) Init() { r.wake = make(chan struct{}, 1) }

// runOne runs one due task and reports whether there was one.
func (r *Runner) runOne(ctx context.Context) bool {
	t, err := r.Store.ClaimTask(ctx, r.Replica, r.Lease)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		if ctx.Err() == nil {
			r.Log.Error(err, "claiming a task")
		}
		return false
	}
	// The claim is renewed while the task runs, so a task longer than the
	// lease is not taken over (and run twice) by another replica; if the
	// claim is lost anyway (this replica stalled past its lease and another
	// took the task), the task's context ends here.
	tctx, stop := context.WithCancelCause(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		r.renew(tctx, t.ID, stop)
	}()
	state, reason := store.TaskDone, ""
	note, err := r.execute(tctx, t)
	if err != nil {
		state, reason = store.TaskFailed, err.Error()
		if cause := context.Cause(tctx); errors.Is(cause, errClaimLost) {
			reason = cause.Error()
		}
	} else {
		reason = note
	}
	stop(nil)
	<-renewed
	// The outcome is recorded even when ctx ends mid-way.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.Store.FinishTask(fctx, t.ID, r.Replica, state, reason); err != nil {
		r.Log.Error(err, "recording a task's outcome", "task", t.ID)
	}
	return true
}

// errClaimLost ends a task whose claim another replica took over.
var errClaimLost = errors.New("this replica's claim on the task ran out and another replica took it over")

// renew extends the claim on task id every third of the lease until ctx
// ends; losing the claim cancels the task (stop).
func (r *Runner) renew(ctx context.Context, id int64, stop context.CancelCauseFunc) {
	every := max(r.Lease/3, 10*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := r.Store.RenewTask(ctx, id, r.Replica, r.Lease)
		switch {
		case errors.Is(err, store.ErrNotFound):
			stop(errClaimLost)
			return
		case err != nil && ctx.Err() == nil:
			// A database hiccup: try again at the next tick; the lease
			// covers two more.
			r.Log.Error(err, "renewing a task's claim", "task", id)
		}
	}
}

// execute carries out t; the note, if any, is recorded as the outcome's
// reason (an Install names who became the app's Owner).
func (r *Runner) execute(ctx context.Context, t store.Task) (string, error) {
	var req Request
	if err := json.Unmarshal(t.Request, &req); err != nil {
		return "", fmt.Errorf("the task's request is not readable: %w", err)
	}
	key := client.ObjectKey{Namespace: t.Namespace, Name: t.App}
	if t.AppUID != "" && t.Operation != store.OpInstall {
		// A task recorded on one app never acts on another made later
		// under the same name.
		app := &platformv1.Application{}
		if err := r.Client.Get(ctx, key, app); err != nil && !apierrors.IsNotFound(err) {
			return "", err
		} else if err == nil && string(app.UID) != t.AppUID {
			return "", fmt.Errorf("application %s/%s was deleted and made again since this task was recorded: the task does not act on the new one", t.Namespace, t.App)
		}
	}
	switch t.Operation {
	case store.OpInstall:
		return r.install(ctx, t, key, req.Spec)
	case store.OpUpgrade:
		if err := r.Client.Get(ctx, key, &platformv1.Application{}); apierrors.IsNotFound(err) {
			return "", fmt.Errorf("application %s/%s does not exist: install it first", t.Namespace, t.App)
		}
		return "", r.apply(ctx, key, req.Spec)
	case store.OpReinstall:
		// Apply the same spec again: the operator reconciles and restores
		// whatever drifted.
		app := &platformv1.Application{}
		if err := r.Client.Get(ctx, key, app); err != nil {
			return "", err
		}
		return "", r.apply(ctx, key, &app.Spec)
	case store.OpUninstall:
		app := &platformv1.Application{}
		err := r.Client.Get(ctx, key, app)
		if err == nil {
			err = r.Client.Delete(ctx, app, client.Preconditions{UID: &app.UID})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return "", err
		}
		// The roles end now; the rest of the app's records when the mirror
		// sees it gone.
		return "", r.Store.ForgetAppRoles(ctx, store.AppKey{Namespace: t.Namespace, Name: t.App}, string(app.UID))
	case store.OpRecreate:
		return r.recreate(ctx, t, key, req)
	case store.OpRestartK8sResource:
		return "", r.restart(ctx, key, req.Resource)
	case store.OpInvokeAction:
		switch req.Action {
		case ActionCreatePreview:
			return "", r.createPreview(ctx, key, req.Preview)
		case ActionDeletePreview:
			if req.Preview == nil {
				return "", errors.New("the task names no preview")
			}
			err := r.Client.Delete(ctx, &platformv1.PreviewEnvironment{ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: req.Preview.Name}})
			return "", client.IgnoreNotFound(err)
		}
		name, err := credentialSecret(req.Action, t.App)
		if err != nil {
			return "", err
		}
		err = r.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: name}})
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("secret %s does not exist yet: the app has no credentials to rotate", name)
		}
		return "", err
	}
	return "", fmt.Errorf("unknown operation %q", t.Operation)
}

// install creates the app and only then makes the task's actor its Owner,
// bound to the new app's UID: a role is never held on an app that does not
// exist (an Install scheduled far ahead and canceled claims nothing), and
// it ends with that app, not with its name.
func (r *Runner) install(ctx context.Context, t store.Task, key client.ObjectKey, spec *platformv1.ApplicationSpec) (string, error) {
	existing := &platformv1.Application{}
	if err := r.Client.Get(ctx, key, existing); err == nil {
		if t.AppUID == "" || string(existing.UID) != t.AppUID {
			return "", fmt.Errorf("application %s/%s already exists: update it instead", t.Namespace, t.App)
		}
		// This task made it on an earlier attempt: finish the grant.
	} else if !apierrors.IsNotFound(err) {
		return "", err
	} else if err := r.apply(ctx, key, spec); err != nil {
		return "", err
	}
	return r.grantOwner(ctx, t, key)
}

// grantOwner makes t's actor the Owner of the app now at key.
func (r *Runner) grantOwner(ctx context.Context, t store.Task, key client.ObjectKey) (string, error) {
	app := &platformv1.Application{}
	if err := r.Client.Get(ctx, key, app); err != nil {
		return "", fmt.Errorf("reading the application just applied: %w", err)
	}
	if t.Operation == store.OpInstall {
		if err := r.Store.BindTask(ctx, t.ID, r.Replica, string(app.UID)); err != nil {
			return "", err
		}
	}
	if err := r.Store.GrantAppRole(ctx, store.AppKey{Namespace: key.Namespace, Name: key.Name}, string(app.UID), t.Actor, OwnerRole); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s is Owner of %s/%s", t.Actor, key.Namespace, key.Name), nil
}

// OwnerRole is the app role an app's creator gets (authz.AppOwner; the
// tasks package does not import authz).
const OwnerRole = "Owner"

// ApplicationObject is the Application the API applies for spec.
func ApplicationObject(key client.ObjectKey, spec *platformv1.ApplicationSpec) (*unstructured.Unstructured, error) {
	if spec == nil {
		return nil, errors.New("the task has no spec")
	}
	app := &platformv1.Application{
		TypeMeta:   metav1.TypeMeta{APIVersion: platformv1.GroupVersion.String(), Kind: "Application"},
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Spec:       *spec,
	}
	m, err := toUnstructured(app)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	meta := m["metadata"].(map[string]any)
	delete(meta, "creationTimestamp")
	return &unstructured.Unstructured{Object: m}, nil
}

func toUnstructured(o any) (map[string]any, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	return m, json.Unmarshal(b, &m)
}

func (r *Runner) apply(ctx context.Context, key client.ObjectKey, spec *platformv1.ApplicationSpec) error {
	u, err := ApplicationObject(key, spec)
	if err != nil {
		return err
	}
	return r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership)
}

// recreate applies the app's spec in another namespace and deletes the
// original. Its data does not move (see RecreateDataLoss): the API records
// a Recreate only with the caller's explicit confirmation.
func (r *Runner) recreate(ctx context.Context, t store.Task, from client.ObjectKey, req Request) (string, error) {
	if !req.ConfirmDataLoss {
		return "", errors.New("a Recreate needs confirmDataLoss: the app's data does not move with it")
	}
	app := &platformv1.Application{}
	if err := r.Client.Get(ctx, from, app); err != nil {
		return "", err
	}
	to := client.ObjectKey{Namespace: req.ToNamespace, Name: from.Name}
	if err := r.Client.Get(ctx, to, &platformv1.Application{}); err == nil {
		return "", fmt.Errorf("application %s/%s already exists", to.Namespace, to.Name)
	}
	if err := r.apply(ctx, to, &app.Spec); err != nil {
		return "", err
	}
	if err := r.Client.Delete(ctx, app, client.Preconditions{UID: &app.UID}); err != nil && !apierrors.IsNotFound(err) {
		return "", err
	}
	if err := r.Store.ForgetAppRoles(ctx, store.AppKey{Namespace: from.Namespace, Name: from.Name}, string(app.UID)); err != nil {
		return "", err
	}
	return r.grantOwner(ctx, t, to)
}

func (r *Runner) restart(ctx context.Context, app client.ObjectKey, ref *ResourceRef) error {
	if ref == nil {
		ref = &ResourceRef{Kind: "Deployment", Name: app.Name}
	}
	if ref.Kind != "Deployment" {
		return fmt.Errorf("cannot restart a %s: only Deployments", ref.Kind)
	}
	d := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: ref.Name}, d); err != nil {
		return err
	}
	if d.Labels[platformv1.LabelApp] != app.Name {
		return fmt.Errorf("deployment %s does not belong to app %s", ref.Name, app.Name)
	}
	// The same annotation kubectl rollout restart sets, under the API's
	// own field manager: the operator's apply leaves it alone.
	patch := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"namespace": app.Namespace, "name": ref.Name},
		"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{
			platformv1.AnnotationRestartedAt: time.Now().UTC().Format(time.RFC3339Nano),
		}}}},
	}}
	return r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(patch), client.FieldOwner(FieldManager), client.ForceOwnership)
}

// createPreview applies a PreviewEnvironment <app>-pr-<N>, as plattr
// preview create does.
func (r *Runner) createPreview(ctx context.Context, app client.ObjectKey, p *PreviewRef) error {
	if p == nil || p.PullRequest <= 0 || p.ImageRef == "" {
		return errors.New("the task names no pull request or image")
	}
	spec := map[string]any{"applicationRef": app.Name, "pullRequest": int64(p.PullRequest), "imageRef": p.ImageRef}
	if p.TTL != "" {
		spec["ttl"] = p.TTL
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": platformv1.GroupVersion.String(), "kind": "PreviewEnvironment",
		"metadata": map[string]any{"namespace": app.Namespace, "name": fmt.Sprintf("%s-pr-%d", app.Name, p.PullRequest)},
		"spec":     spec,
	}}
	return r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldManager), client.ForceOwnership)
}
