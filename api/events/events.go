// Package events is the platform API's change feed as a contract: every
// event kind, the payload each carries, and who may receive it. It lives
// under api/ beside the CRD types because several parts read it in
// several languages: the store's trigger (migration 009) writes these
// payloads, the API's event stream filters on the audience, the portal's
// script gets the kinds from KindsJS (served as /assets/events.js, never
// kept by hand), and any client of GET /api/v1/events decodes these
// structs. A test in internal/platformapi/store makes each kind's trigger
// produce an event and decodes it into its struct with unknown fields
// refused, so the SQL and the Go cannot drift apart.
package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The event kinds (the SSE `event:` line and the feed's kind column).
const (
	// KindTask: a task was recorded or changed state (payload Task).
	KindTask = "task"
	// KindApp: an app's recorded status changed, or it is gone (App).
	KindApp = "app"
	// KindResource: one Kubernetes object of an app changed (Resource).
	KindResource = "resource"
	// KindStatus: what an app reports at its status path changed (Status).
	KindStatus = "status"
	// KindRoles: a user's role on an environment or app changed (Roles).
	KindRoles = "roles"
	// KindTenant: a tenant's phase, namespaces or members changed (Tenant).
	KindTenant = "tenant"
)

// KindReload is not a feed event but a stream's control message: the
// client is too far behind to be replayed and loads the current state again.
const KindReload = "reload"

// Audience says who may receive an event; the feed keeps it in columns
// beside the event (events.audience, members, subject, admin_only), so a
// stream filters each event by reading fields, never by parsing its data.
type Audience string

const (
	// AudienceApp: whoever may view the event's app (namespace, app):
	// site admins, the environment's Admins and Users, the app's Owners
	// and Maintainers. An event marked admin-only (a task of a deleted
	// app, kept for audit) goes to site admins alone.
	AudienceApp Audience = "app"
	// AudienceTenant: the tenant's members (the event's members) and
	// site admins.
	AudienceTenant Audience = "tenant"
	// AudienceRoles: the user whose roles changed (the event's subject),
	// the environment's Admins, and site admins.
	AudienceRoles Audience = "roles"
)

// Kind describes one event kind.
type Kind struct {
	Name     string
	Audience Audience
	// Payload is a zero value of the kind's payload struct.
	Payload any
	// Source is the table whose changes publish the kind (migration 009).
	Source string
}

// Kinds lists every kind the feed carries.
var Kinds = []Kind{
	{Name: KindTask, Audience: AudienceApp, Payload: Task{}, Source: "tasks"},
	{Name: KindApp, Audience: AudienceApp, Payload: App{}, Source: "app_states"},
	{Name: KindResource, Audience: AudienceApp, Payload: Resource{}, Source: "k8s_resources"},
	{Name: KindStatus, Audience: AudienceApp, Payload: Status{}, Source: "status_reports"},
	{Name: KindRoles, Audience: AudienceRoles, Payload: Roles{}, Source: "environment_roles, app_roles"},
	{Name: KindTenant, Audience: AudienceTenant, Payload: Tenant{}, Source: "tenant_states"},
}

// Lookup returns the kind named name.
func Lookup(name string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// Event is one entry of the feed as GET /api/v1/events sends it (the
// `data:` line). Data is the kind's payload.
type Event struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"`
	Namespace string    `json:"namespace"`
	// App is the app's name; for a tenant event, the tenant's name.
	App  string          `json:"app,omitempty"`
	Data json.RawMessage `json:"data"`
}

// Deleted is part of every payload whose source row can be deleted: true
// on the event that says the thing is gone (the payload then carries what
// was last recorded).
type Deleted struct {
	Deleted bool `json:"deleted,omitempty"`
}

// Task is a task's progress: enough to patch a history row; the request
// and diff are read with GET /api/v1/tasks/{id}.
type Task struct {
	ID        int64     `json:"id"`
	Operation string    `json:"operation"`
	State     string    `json:"state"`
	Reason    string    `json:"reason"`
	Actor     string    `json:"actor"`
	CreatedAt time.Time `json:"createdAt"`
}

// App is an app's recorded status: the catalog row (what GET /api/v1/apps
// lists, previews aside) plus what the app page shows of its progress.
type App struct {
	Environment        string             `json:"environment,omitempty"`
	Framework          string             `json:"framework,omitempty"`
	Phase              string             `json:"phase"`
	URL                string             `json:"url,omitempty"`
	Image              string             `json:"image,omitempty"`
	Ready              bool               `json:"ready"`
	CreatedAt          time.Time          `json:"createdAt,omitzero"`
	Generation         int64              `json:"generation"`
	ObservedGeneration int64              `json:"observedGeneration"`
	Deleting           bool               `json:"deleting,omitempty"`
	Conditions         []metav1.Condition `json:"conditions"`
	Deleted
}

// Resource is one Kubernetes object an app owns, as GET
// /api/v1/apps/{namespace}/{name}/resources lists it.
type Resource struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	App       string `json:"app"`
	// Status is green (as desired), yellow (on its way), red (failing) or
	// grey (nothing to run).
	Status string `json:"status"`
	// Summary says why, e.g. "2/2 ready".
	Summary string `json:"summary"`
	Deleted
}

// Status is an app's status report without its body: the body's SHA-256
// names it, and a client that sees it change reads the app for the body.
type Status struct {
	OK         bool      `json:"ok"`
	Error      string    `json:"error,omitempty"`
	BodySHA256 string    `json:"bodySha256,omitempty"`
	ChangedAt  time.Time `json:"changedAt"`
	Deleted
}

// Roles says whose grants changed (on the event's namespace).
type Roles struct {
	UserID int64 `json:"userId"`
	Deleted
}

// TenantNamespace is one of a tenant's namespaces.
type TenantNamespace struct {
	Environment string `json:"environment"`
	Name        string `json:"name"`
}

// Tenant is a tenant's state.
type Tenant struct {
	Phase      string            `json:"phase"`
	Namespaces []TenantNamespace `json:"namespaces"`
	// Members are the members' emails, lowercased: the event's audience.
	Members []string `json:"members"`
	Deleted
}

// KindsJS is the portal's copy of the kinds, a script that defines
// PlattrEvents: kinds by name, the list to subscribe to, and the reload
// control message. Reading a kind that does not exist throws, so a typo
// in the portal fails loudly instead of listening to nothing.
func KindsJS() string {
	var b strings.Builder
	b.WriteString("// Generated from package github.com/plattr/plattr/api/events by plattr-api: do not edit.\n")
	b.WriteString("\"use strict\";\n")
	b.WriteString("const PlattrEvents = (() => {\n  const kinds = Object.freeze({\n")
	for _, k := range Kinds {
		fmt.Fprintf(&b, "    %s: %q,\n", k.Name, k.Name)
	}
	b.WriteString("  });\n")
	b.WriteString("  const strict = (o, what) => new Proxy(o, { get(t, p) {\n")
	b.WriteString("    if (typeof p === \"string\" && !(p in t)) throw new Error(\"no \" + what + \" \" + p);\n")
	b.WriteString("    return t[p];\n  } });\n")
	fmt.Fprintf(&b, "  return Object.freeze({ kind: strict(kinds, \"event kind\"), all: Object.freeze(Object.values(kinds)), reload: %q });\n", KindReload)
	b.WriteString("})();\n")
	return b.String()
}
