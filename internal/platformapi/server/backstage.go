package server

// The Backstage export: GET /api/v1/backstage/entities answers Plattr's
// catalog as Backstage entities (docs/BACKSTAGE.md), for an entity
// provider to read. Apps are Components; their databases and buckets
// Resources they depend on; their PostgREST APIs APIs they provide; tenants
// (and namespaces no tenant owns) Groups that own them and Systems they
// belong to.
//
// Names. An entity's ref is kind:namespace/name, compared without case.
// A Component lives in the Backstage namespace of its Kubernetes namespace
// and keeps the app's name (both lowercase DNS labels, which Backstage
// accepts as they are), so two apps never share a ref, whatever their names:
// team-x's app y-z and team-x-y's app z are component:team-x/y-z and
// component:team-x-y/z, where a flat name would make both team-x-y-z. An
// app's Resources and APIs join the app's name and theirs with '.', which no
// app or bucket name holds (the CRDs refuse it), so app web's bucket db
// (web.bucket.db) is never its database (web.database). A name over
// Backstage's 63 characters keeps its first 46 and ends in '_' and 16 hex
// digits of a SHA-256 of the whole: no natural name holds a '_'.

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/mirror"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// Entity is a Backstage catalog entity (backstage.io/v1alpha1).
type Entity struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   EntityMetadata `json:"metadata"`
	// Spec is the kind's spec: componentSpec, resourceSpec, apiSpec,
	// groupSpec or systemSpec.
	Spec any `json:"spec"`
}

// EntityMetadata is an entity's metadata.
type EntityMetadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Title       string            `json:"title,omitempty"`
	Description string            `json:"description,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Links       []EntityLink      `json:"links,omitempty"`
}

// EntityLink is a link Backstage shows on the entity's page.
type EntityLink struct {
	URL   string `json:"url"`
	Title string `json:"title,omitempty"`
}

type componentSpec struct {
	Type         string   `json:"type"`
	Lifecycle    string   `json:"lifecycle"`
	Owner        string   `json:"owner"`
	System       string   `json:"system"`
	DependsOn    []string `json:"dependsOn,omitempty"`
	ProvidesAPIs []string `json:"providesApis,omitempty"`
}

type resourceSpec struct {
	Type   string `json:"type"`
	Owner  string `json:"owner"`
	System string `json:"system"`
}

type apiSpec struct {
	Type       string `json:"type"`
	Lifecycle  string `json:"lifecycle"`
	Owner      string `json:"owner"`
	System     string `json:"system"`
	Definition string `json:"definition"`
}

type groupSpec struct {
	Type     string        `json:"type"`
	Profile  *groupProfile `json:"profile,omitempty"`
	Children []string      `json:"children"`
}

type groupProfile struct {
	DisplayName string `json:"displayName,omitempty"`
}

type systemSpec struct {
	Owner string `json:"owner"`
}

// entityList is one page of the export.
type entityList struct {
	Items []Entity `json:"items"`
	// Continue fetches the next page; empty on the last.
	Continue string `json:"continue,omitempty"`
}

// The annotations Plattr writes (besides Backstage's own).
const (
	annotationPortalURL   = "plattr.io/portal-url"
	annotationAppUID      = "plattr.io/app-uid"
	annotationNamespace   = "plattr.io/namespace"
	annotationApp         = "plattr.io/app"
	annotationTenant      = "plattr.io/tenant"
	annotationEnvironment = "plattr.io/environment"
	annotationBucket      = "plattr.io/bucket"
	annotationPublic      = "plattr.io/public"
	// ownersNamespace is the Backstage namespace of the Groups and Systems.
	ownersNamespace = "plattr"
	maxEntityName   = 63
	entityAPI       = "backstage.io/v1alpha1"
)

// owner is who owns a namespace's apps: its tenant, or, for a namespace no
// tenant owns, the namespace itself. Each is one Group and one System.
type owner struct {
	name        string // the Group's and the System's entity name
	tenant      string // empty for a namespace's own owner
	namespace   string // set when tenant is empty
	displayName string
}

func (o owner) group() string  { return "group:" + ownersNamespace + "/" + o.name }
func (o owner) system() string { return "system:" + ownersNamespace + "/" + o.name }

// apiSources give an app's APIs, each as an entity the app's Component
// provides. PostgREST is the first; the aggregated APIs an app declares
// (a later issue) are added here the same way, and nothing else changes.
var apiSources = []func(e *exporter, a *platformv1.Application, o owner) []Entity{
	postgrestAPI,
}

// exporter builds entities for one request.
type exporter struct {
	portal string // the portal's base URL, no trailing slash
}

func (s *Server) backstageEntities(c *call) (any, error) {
	q := c.r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, badRequest("limit", "limit=%q: want 1 to 1000", v)
		}
		limit = n
	}
	// The cursor is the last owner (o/<name>) or app (a/<namespace>/<name>)
	// of the previous page: owners come first, sorted by name, then apps
	// in the catalog's order.
	cursor := q.Get("continue")
	kind, rest, _ := strings.Cut(cursor, "/")
	afterNS, afterName, _ := strings.Cut(rest, "/")
	switch {
	case cursor == "":
	case kind == "o" && rest != "":
	case kind == "a" && afterNS != "" && afterName != "":
	default:
		return nil, badRequest("continue", "continue=%q is not a continue token of this endpoint: pass the previous page's continue as it was given", cursor)
	}
	all := c.p.User.SiteAdmin || isCatalogReader(c.r)
	sees := func(a mirror.AppSummary) bool { return all || c.p.Can(authz.ViewApp, a.Namespace, a.Name) }

	tenants := &platformv1.TenantList{}
	if err := s.Cache.List(c.ctx(), tenants); err != nil {
		return nil, err
	}
	owners := ownersOf(tenants.Items)
	apps := s.Catalog.Apps()

	// The owners shown: every one for the reader and site admins; else the
	// tenants the caller is a member of and the owners of the apps they see
	// (so every owner and system ref resolves).
	shown := map[string]owner{}
	for _, t := range tenants.Items {
		if all || tenantRole(c.p, &t) != "" {
			o := owners.ofTenant(&t)
			shown[o.name] = o
		}
	}
	for _, a := range apps {
		if sees(a) {
			o := owners.of(a.Namespace)
			shown[o.name] = o
		}
	}
	names := make([]string, 0, len(shown))
	for n := range shown {
		names = append(names, n)
	}
	sort.Strings(names)

	ex := &exporter{portal: s.portalURL(c.r)}
	out := entityList{Items: []Entity{}}
	units, last := 0, ""
	if kind != "a" {
		for _, n := range names {
			if kind == "o" && n <= rest {
				continue
			}
			if units == limit {
				out.Continue = last
				return out, nil
			}
			out.Items = append(out.Items, ex.ownerEntities(shown[n])...)
			units++
			last = "o/" + n
		}
	}
	for _, a := range apps {
		if kind == "a" && !appAfter(a, afterNS, afterName) || !sees(a) {
			continue
		}
		if units == limit {
			out.Continue = last
			break
		}
		full, err := s.loadApp(c.ctx(), appKeyOf(a))
		if isNotFound(err) {
			continue // deleted since the catalog listed it
		}
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, ex.appEntities(full, owners.of(a.Namespace))...)
		units++
		last = "a/" + a.Namespace + "/" + a.Name
	}
	return out, nil
}

// ownerIndex maps namespaces to the tenants that own them.
type ownerIndex map[string]owner

func ownersOf(tenants []platformv1.Tenant) ownerIndex {
	idx := ownerIndex{}
	sort.Slice(tenants, func(i, j int) bool { return tenants[i].Name < tenants[j].Name })
	for i := range tenants {
		t := &tenants[i]
		for _, ns := range t.Status.Namespaces {
			if _, taken := idx[ns.Name]; !taken { // the first by name, should two ever claim one
				idx[ns.Name] = idx.ofTenant(t)
			}
		}
	}
	return idx
}

func (ownerIndex) ofTenant(t *platformv1.Tenant) owner {
	return owner{name: entityName(t.Name), tenant: t.Name, displayName: t.Spec.DisplayName}
}

func (idx ownerIndex) of(namespace string) owner {
	if o, ok := idx[namespace]; ok {
		return o
	}
	return owner{name: entityName("namespace", namespace), namespace: namespace}
}

// entityName joins parts with '.' into a valid Backstage name, unique for
// distinct parts: see the file's comment.
func entityName(parts ...string) string {
	clean := true
	for _, p := range parts {
		clean = clean && isLabel(p)
	}
	n := strings.Join(parts, ".")
	if clean && len(n) <= maxEntityName {
		return n
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	prefix := strings.Trim(nameUnsafe.ReplaceAllString(n, "-"), "-.")
	if len(prefix) > maxEntityName-17 {
		prefix = prefix[:maxEntityName-17]
	}
	if prefix == "" {
		prefix = "x"
	}
	return prefix + "_" + hex.EncodeToString(sum[:8])
}

var (
	nameUnsafe = regexp.MustCompile(`[^a-z0-9.-]+`)
	// repoPath is a repository as spec.repository may name one:
	// host/owner/name, with an optional scheme (and .git, cut before).
	repoPath   = regexp.MustCompile(`^(?:https?://)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?(?::[0-9]{1,5})?)/([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+)$`)
	branchName = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
)

// isLabel reports whether s is a lowercase DNS label's characters:
// [a-z0-9] at both ends, '-' also between.
func isLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func (e *exporter) ownerEntities(o owner) []Entity {
	ann := map[string]string{}
	title, desc := o.name, ""
	if o.tenant != "" {
		ann[annotationTenant] = o.tenant
		ann[annotationPortalURL] = e.portal + "/tenants"
		desc = "Plattr tenant " + o.tenant
		if o.displayName != "" {
			title = o.displayName
		}
	} else {
		ann[annotationNamespace] = o.namespace
		ann[annotationPortalURL] = e.portal + "/" // the catalog, which lists every namespace's apps
		title, desc = o.namespace, "Apps of namespace "+o.namespace+", which no Plattr tenant owns"
	}
	meta := func() EntityMetadata {
		return EntityMetadata{Name: o.name, Namespace: ownersNamespace, Title: title, Description: desc, Annotations: copyMap(ann), Tags: []string{"plattr"}}
	}
	return []Entity{
		{APIVersion: entityAPI, Kind: "Group", Metadata: meta(), Spec: groupSpec{Type: "team", Profile: &groupProfile{DisplayName: title}, Children: []string{}}},
		{APIVersion: entityAPI, Kind: "System", Metadata: meta(), Spec: systemSpec{Owner: o.group()}},
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// appAnnotations are what every entity of an app carries.
func (e *exporter) appAnnotations(a *platformv1.Application, o owner) map[string]string {
	ann := map[string]string{
		annotationPortalURL:   e.portal + "/apps/" + url.PathEscape(a.Namespace) + "/" + url.PathEscape(a.Name),
		annotationAppUID:      string(a.UID),
		annotationNamespace:   a.Namespace,
		annotationApp:         a.Name,
		annotationEnvironment: string(a.Spec.Environment),
	}
	if o.tenant != "" {
		ann[annotationTenant] = o.tenant
	}
	return ann
}

func (e *exporter) appEntities(a *platformv1.Application, o owner) []Entity {
	lifecycle := lifecycleOf(a)
	ann := e.appAnnotations(a, o)
	// Backstage's Kubernetes plugin finds the app's objects by these.
	ann["backstage.io/kubernetes-namespace"] = a.Namespace
	ann["backstage.io/kubernetes-label-selector"] = platformv1.LabelApp + "=" + a.Name
	if loc, slug := sourceLocation(a.Spec.Repository, a.Spec.Branch); loc != "" {
		ann["backstage.io/source-location"] = loc
		if slug != "" {
			ann["github.com/project-slug"] = slug
		}
	}
	links := []EntityLink{{URL: ann[annotationPortalURL], Title: "Plattr portal"}}
	if u, err := url.Parse(a.Status.URL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		links = append(links, EntityLink{URL: u.String(), Title: "Open the app"})
	}
	tags := []string{"plattr", lifecycle}
	if f := string(a.Spec.Framework); isLabel(f) {
		tags = append(tags, f)
	}
	comp := Entity{APIVersion: entityAPI, Kind: "Component",
		Metadata: EntityMetadata{Name: entityName(a.Name), Namespace: a.Namespace, Title: a.Name,
			Description: "Plattr app " + a.Namespace + "/" + a.Name + " (" + string(a.Spec.Environment) + ")",
			Annotations: ann, Tags: tags, Links: links},
	}
	spec := componentSpec{Type: "service", Lifecycle: lifecycle, Owner: o.group(), System: o.system()}
	out := []Entity{{}} // the Component, once its relations are known
	resource := func(name, typ, title string, extra map[string]string) {
		ra := e.appAnnotations(a, o)
		for k, v := range extra {
			ra[k] = v
		}
		r := Entity{APIVersion: entityAPI, Kind: "Resource",
			Metadata: EntityMetadata{Name: name, Namespace: a.Namespace, Title: title, Annotations: ra, Tags: []string{"plattr"}},
			Spec:     resourceSpec{Type: typ, Owner: o.group(), System: o.system()}}
		out = append(out, r)
		spec.DependsOn = append(spec.DependsOn, "resource:"+a.Namespace+"/"+name)
	}
	if a.Spec.Database != nil && a.Spec.Database.Enabled {
		resource(entityName(a.Name, "database"), "database", a.Name+" database", nil)
	}
	if a.Spec.Storage != nil && a.Spec.Storage.Enabled {
		for _, b := range a.Spec.Storage.Buckets {
			resource(entityName(a.Name, "bucket", b.Name), "s3-bucket", a.Name+" bucket "+b.Name,
				map[string]string{annotationBucket: b.Name, annotationPublic: strconv.FormatBool(b.Public)})
		}
	}
	for _, src := range apiSources {
		for _, api := range src(e, a, o) {
			out = append(out, api)
			spec.ProvidesAPIs = append(spec.ProvidesAPIs, "api:"+api.Metadata.Namespace+"/"+api.Metadata.Name)
		}
	}
	comp.Spec = spec
	out[0] = comp
	return out
}

// postgrestAPI is the REST API PostgREST serves from an app's database,
// at /api/rest on the app's host.
func postgrestAPI(e *exporter, a *platformv1.Application, o owner) []Entity {
	if a.Spec.Database == nil || !a.Spec.Database.Enabled {
		return nil
	}
	server := ""
	if u, err := url.Parse(a.Status.URL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		server = strings.TrimSuffix(u.String(), "/") + "/api/rest"
	}
	// PostgREST describes the live schema itself (GET on its root): the
	// definition names where, rather than a copy that would go stale.
	def := "openapi: 3.0.3\ninfo:\n  title: " + strconv.Quote(a.Name+" REST API (PostgREST)") + "\n  version: live\n" +
		"  description: PostgREST serves this API from the app's database schema; GET the server's root for its current OpenAPI description.\n"
	if server != "" {
		def += "servers:\n  - url: " + strconv.Quote(server) + "\n"
	}
	def += "paths: {}\n"
	name := entityName(a.Name, "rest")
	return []Entity{{APIVersion: entityAPI, Kind: "API",
		Metadata: EntityMetadata{Name: name, Namespace: a.Namespace, Title: a.Name + " REST API",
			Description: "PostgREST over the database of " + a.Namespace + "/" + a.Name, Annotations: e.appAnnotations(a, o), Tags: []string{"plattr", "postgrest"}},
		Spec: apiSpec{Type: "openapi", Lifecycle: lifecycleOf(a), Owner: o.group(), System: o.system(), Definition: def}}}
}

// lifecycleOf is the app's environment: production, staging, uat, preview.
func lifecycleOf(a *platformv1.Application) string {
	if env := string(a.Spec.Environment); isLabel(env) {
		return env
	}
	return "experimental"
}

// sourceLocation reads spec.repository (tenant-written: anything that is
// not a plain host/owner/name is left out) into Backstage's
// source-location, and GitHub's project slug for github.com.
func sourceLocation(repo, branch string) (loc, slug string) {
	m := repoPath.FindStringSubmatch(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(repo), "/"), ".git"))
	if m == nil {
		return "", ""
	}
	host, path := m[1], m[3]
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." {
			return "", ""
		}
	}
	base := "https://" + host + "/" + path
	if host == "github.com" && strings.Count(path, "/") == 1 {
		slug = path
		if branch != "" && branchName.MatchString(branch) && !strings.Contains(branch, "..") {
			return "url:" + base + "/tree/" + branch + "/", slug
		}
	}
	return "url:" + base + "/", slug
}

// portalURL is the portal's base URL: PUBLIC_URL, or the request's host
// when it is not configured (tests of this package).
func (s *Server) portalURL(r *http.Request) string {
	if s.PublicURL != "" {
		return strings.TrimSuffix(s.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func appKeyOf(a mirror.AppSummary) store.AppKey {
	return store.AppKey{Namespace: a.Namespace, Name: a.Name}
}
