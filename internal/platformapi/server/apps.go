package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/plattr/plattr/api/events"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/mirror"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/platformapi/tasks"
)

// appSummary is an app in a listing.
type appSummary = mirror.AppSummary

// app is one app in full.
type app struct {
	appSummary
	Generation         int64                      `json:"generation"`
	ObservedGeneration int64                      `json:"observedGeneration"`
	Spec               platformv1.ApplicationSpec `json:"spec"`
	Conditions         []metav1.Condition         `json:"conditions"`
	// APIRoutes are spec.api's paths on the aggregator's host (APIHost),
	// each Active, Conflicted (with the owner) or Invalid.
	APIHost   string                      `json:"apiHost,omitempty"`
	APIRoutes []platformv1.ApiRouteStatus `json:"apiRoutes,omitempty"`
	// Reported is what the app answered at spec.statusPath, if it declares one.
	Reported *store.StatusReport `json:"reported,omitempty"`
	// Messaging is the app's NATS user, when it asks for one.
	Messaging *natsUser `json:"messaging,omitempty"`
	// Permissions say what the caller may do to the app, so a page shows
	// only the actions its user may take (the API checks again).
	Permissions permissions `json:"permissions"`
}

type permissions struct {
	Operate       bool `json:"operate"`
	Delete        bool `json:"delete"`
	ManageMembers bool `json:"manageMembers"`
}

type appList struct {
	Items []appSummary `json:"items"`
	// Continue fetches the next page; empty on the last.
	Continue string `json:"continue,omitempty"`
}

func view(a *platformv1.Application) app {
	conds := a.Status.Conditions
	if conds == nil {
		conds = []metav1.Condition{}
	}
	return app{appSummary: mirror.Summarize(a), Generation: a.Generation, ObservedGeneration: a.Status.ObservedGeneration, Spec: a.Spec, Conditions: conds}
}

func (s *Server) listApps(c *call) (any, error) {
	q := c.r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, badRequest("limit", "limit=%q: want 1 to 1000", v)
		}
		limit = n
	}
	ns, env, phase, search := q.Get("namespace"), q.Get("environment"), q.Get("phase"), strings.ToLower(q.Get("q"))
	afterNS, afterName, _ := strings.Cut(q.Get("continue"), "/")
	out := appList{Items: make([]appSummary, 0, limit)}
	// The catalog is sorted by namespace and name: start after the cursor
	// and stop at the page's end.
	for _, a := range s.Catalog.Apps() {
		if (ns != "" && a.Namespace != ns) || (env != "" && a.Environment != env) || (phase != "" && a.Phase != phase) ||
			(search != "" && !strings.Contains(a.Name, search)) || (afterNS != "" && !appAfter(a, afterNS, afterName)) ||
			!c.p.Can(authz.ViewApp, a.Namespace, a.Name) {
			continue
		}
		if len(out.Items) == limit {
			last := out.Items[limit-1]
			out.Continue = last.Namespace + "/" + last.Name
			break
		}
		out.Items = append(out.Items, a)
	}
	return out, nil
}

// previewsOf returns the app's previews from the catalog, so a page that
// learns of a preview's change reads one app, not the whole list.
func (s *Server) previewsOf(key store.AppKey) []mirror.PreviewSummary {
	if s.Catalog == nil {
		return nil
	}
	apps := s.Catalog.Apps()
	i, ok := slices.BinarySearchFunc(apps, key, func(a appSummary, k store.AppKey) int {
		if c := strings.Compare(a.Namespace, k.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, k.Name)
	})
	if !ok {
		return nil
	}
	return apps[i].Previews
}

// appAfter reports whether a sorts after namespace/name.
func appAfter(a appSummary, namespace, name string) bool {
	return a.Namespace > namespace || (a.Namespace == namespace && a.Name > name)
}

// appKey reads and checks the app named in the path, and that the caller
// may do action on it. The role is checked before the app is looked up, so
// a 404 never tells an outsider what exists.
func (s *Server) visibleApp(c *call, action authz.Action) (store.AppKey, error) {
	key := store.AppKey{Namespace: c.path("namespace"), Name: c.path("name")}
	if err := c.p.Check(action, key.Namespace, key.Name); err != nil {
		return key, err
	}
	return key, nil
}

func (s *Server) loadApp(ctx context.Context, key store.AppKey) (*platformv1.Application, error) {
	a := &platformv1.Application{}
	err := s.Cache.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.Name}, a)
	if apierrors.IsNotFound(err) && s.Kube != nil {
		// This replica's informer may not have seen an app another replica's
		// task runner created a moment ago (its Install task already Done):
		// before answering 404, ask the API server.
		err = s.Kube.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: key.Name}, a)
	}
	if apierrors.IsNotFound(err) {
		return nil, notFound("application %s/%s does not exist", key.Namespace, key.Name)
	}
	return a, err
}

func (s *Server) getApp(c *call) (any, error) {
	key, err := s.visibleApp(c, authz.ViewApp)
	if err != nil {
		return nil, err
	}
	a, err := s.loadApp(c.ctx(), key)
	if err != nil {
		return nil, err
	}
	v := view(a)
	v.Previews = s.previewsOf(key)
	v.Messaging = s.natsUserOf(c.ctx(), a)
	v.Permissions = permissions{
		Operate:       c.p.Can(authz.OperateApp, key.Namespace, key.Name),
		Delete:        c.p.Can(authz.DeleteApp, key.Namespace, key.Name),
		ManageMembers: c.p.Can(authz.ManageAppMembers, key.Namespace, key.Name),
	}
	if a.Spec.API != nil && s.Kube != nil {
		tg := &platformv1.ApiAggregatorTarget{}
		if err := s.Kube.Get(c.ctx(), client.ObjectKey{Namespace: key.Namespace, Name: key.Name}, tg); err == nil && metav1.IsControlledBy(tg, a) {
			v.APIHost, v.APIRoutes = tg.Status.Hostname, tg.Status.Routes
		} else if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	if a.Spec.StatusPath != "" {
		if r, err := s.Store.StatusReportOf(c.ctx(), key); err == nil {
			v.Reported = &r
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return v, nil
}

type scheduleRequest struct {
	// ExecuteAt schedules the task (RFC 3339); empty means now.
	ExecuteAt *time.Time `json:"executeAt,omitempty"`
}

type createAppRequest struct {
	Namespace string                     `json:"namespace"`
	Name      string                     `json:"name"`
	Spec      platformv1.ApplicationSpec `json:"spec"`
	ExecuteAt *time.Time                 `json:"executeAt,omitempty"`
}

type updateAppRequest struct {
	Spec      platformv1.ApplicationSpec `json:"spec"`
	ExecuteAt *time.Time                 `json:"executeAt,omitempty"`
}

type reinstallRequest struct {
	Reason    string     `json:"reason,omitempty"`
	ExecuteAt *time.Time `json:"executeAt,omitempty"`
}

type recreateRequest struct {
	// ToNamespace is the namespace the app moves to.
	ToNamespace string `json:"toNamespace"`
	// ConfirmDataLoss must be true: the app's data (database, buckets,
	// sign-in realm) does not move with it.
	ConfirmDataLoss bool       `json:"confirmDataLoss,omitempty"`
	ExecuteAt       *time.Time `json:"executeAt,omitempty"`
}

// decodeOptional reads a body that may be empty.
func (c *call) decodeOptional(v any) error {
	if c.r.ContentLength == 0 {
		return nil
	}
	err := c.decode(v)
	var apiErr *Error
	if errors.As(err, &apiErr) && strings.Contains(apiErr.Message, io.EOF.Error()) {
		return nil
	}
	return err
}

// validate asks the API server to accept spec without writing it: the
// CRD's schema, CEL rules and admission policies give field-named errors
// now, rather than as a failed task later. It returns the spec with the
// CRD's defaults, to diff against the live (defaulted) one.
func (s *Server) validate(ctx context.Context, key store.AppKey, spec *platformv1.ApplicationSpec) (*platformv1.ApplicationSpec, error) {
	u, err := tasks.ApplicationObject(client.ObjectKey{Namespace: key.Namespace, Name: key.Name}, spec)
	if err != nil {
		return nil, err
	}
	err = s.Kube.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(tasks.FieldManager), client.ForceOwnership, client.DryRunAll)
	if apierrors.IsNotFound(err) {
		return nil, &Error{Status: http.StatusUnprocessableEntity, Field: "namespace", Message: "namespace " + key.Namespace + " does not exist: create it (or a tenant) first"}
	}
	if err != nil {
		return nil, err
	}
	defaulted := &platformv1.Application{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, defaulted); err != nil {
		return nil, err
	}
	return &defaulted.Spec, nil
}

func (s *Server) createApp(c *call) (any, error) {
	var req createAppRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if errs := validation.IsDNS1123Label(req.Name); len(errs) > 0 {
		return nil, badRequest("name", "name %q: %s", req.Name, strings.Join(errs, "; "))
	}
	if req.Namespace == "" {
		return nil, badRequest("namespace", "namespace is required: the environment's namespace, e.g. staging")
	}
	key := store.AppKey{Namespace: req.Namespace, Name: req.Name}
	if err := c.p.Check(authz.CreateApp, key.Namespace, ""); err != nil {
		return nil, err
	}
	if _, err := s.loadApp(c.ctx(), key); err == nil {
		return nil, &Error{Status: http.StatusConflict, Field: "name", Message: "application " + key.Namespace + "/" + key.Name + " already exists: update it with PUT"}
	}
	defaulted, err := s.validate(c.ctx(), key, &req.Spec)
	if err != nil {
		return nil, err
	}
	// The creator owns what they created, whatever their environment role,
	// from the moment the Install task has made it (the runner grants the
	// role, bound to the new app's UID): an Install scheduled ahead and
	// canceled claims nothing.
	return s.Store.CreateTask(c.ctx(), store.NewTask{
		Namespace: key.Namespace, App: key.Name, Operation: store.OpInstall, Actor: c.p.Actor(),
		Request: tasks.Request{Spec: &req.Spec}, Diff: tasks.Diff(nil, defaulted), ExecuteAt: req.ExecuteAt,
	})
}

func (s *Server) updateApp(c *call) (any, error) {
	key, err := s.visibleApp(c, authz.OperateApp)
	if err != nil {
		return nil, err
	}
	var req updateAppRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	a, err := s.loadApp(c.ctx(), key)
	if err != nil {
		return nil, err
	}
	defaulted, err := s.validate(c.ctx(), key, &req.Spec)
	if err != nil {
		return nil, err
	}
	return s.Store.CreateTask(c.ctx(), store.NewTask{
		Namespace: key.Namespace, App: key.Name, Operation: store.OpUpgrade, Actor: c.p.Actor(), AppUID: string(a.UID),
		Request: tasks.Request{Spec: &req.Spec}, Diff: tasks.Diff(&a.Spec, defaulted), ExecuteAt: req.ExecuteAt,
	})
}

func (c *call) executeAt() (*time.Time, error) {
	v := c.r.URL.Query().Get("executeAt")
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, badRequest("executeAt", "executeAt=%q: want an RFC 3339 time such as 2026-11-23T18:00:00Z", v)
	}
	return &t, nil
}

func (s *Server) deleteApp(c *call) (any, error) {
	key, err := s.visibleApp(c, authz.DeleteApp)
	if err != nil {
		return nil, err
	}
	at, err := c.executeAt()
	if err != nil {
		return nil, err
	}
	a, err := s.loadApp(c.ctx(), key)
	if err != nil {
		return nil, err
	}
	return s.Store.CreateTask(c.ctx(), store.NewTask{
		Namespace: key.Namespace, App: key.Name, Operation: store.OpUninstall, Actor: c.p.Actor(), AppUID: string(a.UID),
		Request: tasks.Request{}, Diff: tasks.Diff(&a.Spec, nil), ExecuteAt: at,
	})
}

// operate records a task on an existing app that changes no spec.
func (s *Server) operate(c *call, action authz.Action, op string, body interface{ schedule() *time.Time }, req func(*platformv1.Application) (tasks.Request, error)) (any, error) {
	key, err := s.visibleApp(c, action)
	if err != nil {
		return nil, err
	}
	if err := c.decodeOptional(body); err != nil {
		return nil, err
	}
	a, err := s.loadApp(c.ctx(), key)
	if err != nil {
		return nil, err
	}
	r, err := req(a)
	if err != nil {
		return nil, err
	}
	return s.Store.CreateTask(c.ctx(), store.NewTask{
		Namespace: key.Namespace, App: key.Name, Operation: op, Actor: c.p.Actor(), AppUID: string(a.UID), Request: r, ExecuteAt: body.schedule(),
	})
}

func (r *scheduleRequest) schedule() *time.Time  { return r.ExecuteAt }
func (r *reinstallRequest) schedule() *time.Time { return r.ExecuteAt }
func (r *recreateRequest) schedule() *time.Time  { return r.ExecuteAt }

func (s *Server) restartApp(c *call) (any, error) {
	return s.operate(c, authz.OperateApp, store.OpRestartK8sResource, &scheduleRequest{}, func(a *platformv1.Application) (tasks.Request, error) {
		return tasks.Request{Resource: &tasks.ResourceRef{Kind: "Deployment", Name: a.Name}}, nil
	})
}

func (s *Server) reinstallApp(c *call) (any, error) {
	body := &reinstallRequest{}
	return s.operate(c, authz.OperateApp, store.OpReinstall, body, func(*platformv1.Application) (tasks.Request, error) {
		return tasks.Request{Reason: body.Reason}, nil
	})
}

func (s *Server) recreateApp(c *call) (any, error) {
	body := &recreateRequest{}
	return s.operate(c, authz.DeleteApp, store.OpRecreate, body, func(a *platformv1.Application) (tasks.Request, error) {
		if body.ToNamespace == "" || body.ToNamespace == a.Namespace {
			return tasks.Request{}, badRequest("toNamespace", "toNamespace must name another namespace")
		}
		if err := c.p.Check(authz.CreateApp, body.ToNamespace, ""); err != nil {
			return tasks.Request{}, err
		}
		// The data stays behind (the new app is a new object with names of
		// its own): moving it is not done for the caller, so it is refused
		// unless the caller says they accept that.
		if !body.ConfirmDataLoss {
			return tasks.Request{}, &Error{Status: http.StatusConflict, Field: "confirmDataLoss",
				Message: tasks.RecreateDataLoss(a.Namespace, a.Name, body.ToNamespace, a.Spec)}
		}
		return tasks.Request{ToNamespace: body.ToNamespace, ConfirmDataLoss: true}, nil
	})
}

type actionView = tasks.Action

func (s *Server) listActions(c *call) (any, error) {
	key, err := s.visibleApp(c, authz.ViewApp)
	if err != nil {
		return nil, err
	}
	a, err := s.loadApp(c.ctx(), key)
	if err != nil {
		return nil, err
	}
	return tasks.Actions(a.Spec), nil
}

func (s *Server) invokeAction(c *call) (any, error) {
	name := c.path("action")
	return s.operate(c, authz.OperateApp, store.OpInvokeAction, &scheduleRequest{}, func(a *platformv1.Application) (tasks.Request, error) {
		var names []string
		for _, act := range tasks.Actions(a.Spec) {
			if act.Name == name {
				return tasks.Request{Action: name}, nil
			}
			names = append(names, act.Name)
		}
		return tasks.Request{}, notFound("app %s does not declare action %q; it declares: %s", a.Name, name, strings.Join(names, ", "))
	})
}

func (s *Server) appTasks(c *call) (any, error) {
	key, err := s.visibleApp(c, authz.ViewApp)
	if err != nil {
		return nil, err
	}
	limit := 50
	if v := c.r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return nil, badRequest("limit", "limit=%q: want 1 to 500", v)
		}
		limit = n
	}
	// The history is the app's now living under this name: tasks bound to
	// another (deleted) app object of the same name are not its history.
	// Site admins may ask for those too (audit).
	q := store.HistoryQuery{App: key, Limit: limit}
	if v := c.r.URL.Query().Get("retired"); v != "" {
		if v != "true" && v != "false" {
			return nil, badRequest("retired", "retired=%q: want true or false", v)
		}
		if v == "true" && !c.p.User.SiteAdmin {
			return nil, &authz.Denied{Action: "read the history of deleted apps", Need: []string{authz.RoleSiteAdmin}}
		}
		q.Retired = v == "true"
	}
	if a, err := s.loadApp(c.ctx(), key); err == nil {
		q.UID = string(a.UID)
	} else if !isNotFound(err) {
		return nil, err
	}
	return s.Store.AppTasks(c.ctx(), q)
}

func (s *Server) task(c *call, action authz.Action) (store.Task, error) {
	id, err := strconv.ParseInt(c.path("id"), 10, 64)
	if err != nil {
		return store.Task{}, badRequest("id", "the task id must be a number")
	}
	t, err := s.Store.GetTask(c.ctx(), id)
	if errors.Is(err, store.ErrNotFound) {
		return t, notFound("task %d does not exist", id)
	}
	if err != nil {
		return t, err
	}
	if t.RetiredAt != nil && !c.p.User.SiteAdmin {
		// The task of a deleted app: kept for audit, not shown to whoever
		// holds a role on a new app of the same name.
		return t, notFound("task %d does not exist", id)
	}
	if err := c.p.Check(action, t.Namespace, t.App); err != nil {
		// Whoever recorded a Pending task may cancel it while they may
		// still create apps there (an Install gives no role until it ran).
		if action == authz.OperateApp && t.State == store.TaskPending && t.Actor == c.p.Actor() &&
			c.p.Can(authz.CreateApp, t.Namespace, "") {
			return t, nil
		}
		return t, err
	}
	return t, nil
}

func (s *Server) getTask(c *call) (any, error) { return s.task(c, authz.ViewApp) }

func (s *Server) cancelTask(c *call) (any, error) {
	t, err := s.task(c, authz.OperateApp)
	if err != nil {
		return nil, err
	}
	ok, err := s.Store.CancelTask(c.ctx(), t.ID, c.p.User.Email)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &Error{Status: http.StatusConflict, Message: "task " + strconv.FormatInt(t.ID, 10) + " is " + t.State + ": only a Pending task can be canceled"}
	}
	return s.Store.GetTask(c.ctx(), t.ID)
}

// events streams the change feed to the caller, each event filtered by
// its audience (package api/events), read from the event's columns.
func (s *Server) events(c *call) {
	p := c.p
	s.Hub.Serve(c.w, c.r, func(e *store.Event) bool {
		if e.Audience == events.AudienceRoles && e.Subject == p.User.ID && p.CI == nil {
			// This user's roles changed: what they may see changes now.
			if roles, err := s.Store.RolesOf(c.ctx(), p.User.ID); err == nil {
				p.Roles = roles
			}
			return true
		}
		return visibleTo(p, e)
	})
}

// visibleTo reports whether p may receive e. An audience it does not
// know goes to site admins alone.
func visibleTo(p *authz.Principal, e *store.Event) bool {
	switch {
	case p.CI == nil && p.User.SiteAdmin:
		return true
	case e.AdminOnly:
		return false
	}
	switch e.Audience {
	case events.AudienceApp:
		return p.Can(authz.ViewApp, e.Namespace, e.App)
	case events.AudienceTenant:
		// A tenant's events go to its members (and site admins).
		return p.CI == nil && slices.Contains(e.Members, p.User.Email)
	case events.AudienceRoles:
		return p.Can(authz.ManageEnvironment, e.Namespace, "")
	}
	return false
}

func (s *Server) appResources(c *call) (any, error) {
	key, err := s.visibleApp(c, authz.ViewApp)
	if err != nil {
		return nil, err
	}
	return s.Store.Resources(c.ctx(), key)
}

type previewRequest struct {
	PullRequest int32  `json:"pullRequest"`
	ImageRef    string `json:"imageRef"`
	// TTL is how long the preview lives, like 72h or 7d [72h].
	TTL       string     `json:"ttl,omitempty"`
	ExecuteAt *time.Time `json:"executeAt,omitempty"`
}

func (r *previewRequest) schedule() *time.Time { return r.ExecuteAt }

// createPreview records an InvokeAction task that creates a
// PreviewEnvironment of the app.
func (s *Server) createPreview(c *call) (any, error) {
	body := &previewRequest{}
	return s.operate(c, authz.PreviewApp, store.OpInvokeAction, body, func(a *platformv1.Application) (tasks.Request, error) {
		if body.PullRequest <= 0 {
			return tasks.Request{}, badRequest("pullRequest", "pullRequest must be the pull request's number, 1 or more")
		}
		if body.ImageRef == "" {
			return tasks.Request{}, badRequest("imageRef", "imageRef is required: the pull request's image (previews never run the parent's)")
		}
		return tasks.Request{Action: tasks.ActionCreatePreview, Preview: &tasks.PreviewRef{PullRequest: body.PullRequest, ImageRef: body.ImageRef, TTL: body.TTL}}, nil
	})
}

// deletePreview records an InvokeAction task that deletes one of the app's
// previews, named by its PreviewEnvironment.
func (s *Server) deletePreview(c *call) (any, error) {
	name := c.path("preview")
	return s.operate(c, authz.PreviewApp, store.OpInvokeAction, &scheduleRequest{}, func(a *platformv1.Application) (tasks.Request, error) {
		pe := &platformv1.PreviewEnvironment{}
		if err := s.Cache.Get(c.ctx(), client.ObjectKey{Namespace: a.Namespace, Name: name}, pe); err != nil || pe.Spec.ApplicationRef != a.Name {
			return tasks.Request{}, notFound("app %s has no preview %s", a.Name, name)
		}
		return tasks.Request{Action: tasks.ActionDeletePreview, Preview: &tasks.PreviewRef{Name: name, PullRequest: pe.Spec.PullRequest}}, nil
	})
}

// isNotFound reports whether err is a 404 answer (loadApp's).
func isNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}
