package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// DefaultGitHubIssuer is GitHub Actions' OIDC provider.
const DefaultGitHubIssuer = "https://token.actions.githubusercontent.com"

// GitHub accepts GitHub Actions OIDC ID tokens as bearer tokens: CI holds
// no standing credential. A verified token acts as an authz.CI principal
// on the Applications whose spec.repository names the token's repository.
type GitHub struct {
	// Issuer is the token issuer (GITHUB_OIDC_ISSUER); Audience the aud a
	// token must carry (GITHUB_OIDC_AUDIENCE).
	Issuer, Audience string
	// AllowedOwners, if set, are the only repository owners whose tokens
	// are accepted (GITHUB_ALLOWED_OWNERS), compared case-insensitively.
	AllowedOwners []string
	// ProductionEnvironment is the GitHub environment whose jobs may deploy
	// production apps from any branch (GITHUB_PRODUCTION_ENVIRONMENT);
	// empty: only the default branch may.
	ProductionEnvironment string
	// Apps lists the Applications (the API's informer cache).
	Apps client.Reader
	HTTP *http.Client

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
}

// ErrNotGitHub: a token from another issuer; the caller tries no further.
var errBadGitHubToken = errors.New("the GitHub Actions ID token is not valid")

func (g *GitHub) discover(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.verifier != nil {
		return g.verifier, nil
	}
	if g.HTTP != nil {
		ctx = oidc.ClientContext(ctx, g.HTTP)
	}
	// The provider's keys are fetched (and refreshed on an unknown kid)
	// with a context of their own, not the first request's.
	p, err := oidc.NewProvider(oidc.ClientContext(context.WithoutCancel(ctx), g.client()), g.Issuer)
	if err != nil {
		return nil, fmt.Errorf("the GitHub OIDC issuer %s does not answer: %w", g.Issuer, err)
	}
	// go-oidc checks the signature against the issuer's JWKS, iss, aud and
	// exp; it refuses alg "none" and algorithms not listed here.
	g.verifier = p.Verifier(&oidc.Config{ClientID: g.Audience, SupportedSigningAlgs: []string{oidc.RS256}})
	return g.verifier, nil
}

func (g *GitHub) client() *http.Client {
	if g.HTTP != nil {
		return g.HTTP
	}
	return http.DefaultClient
}

// looksLikeJWT tells a JWT from an API token without parsing it.
func looksLikeJWT(s string) bool {
	return strings.Count(s, ".") == 2 && !strings.HasPrefix(s, TokenPrefix)
}

// Principal verifies raw and maps its repository to apps.
func (g *GitHub) Principal(ctx context.Context, raw string) (*authz.Principal, error) {
	v, err := g.discover(ctx)
	if err != nil {
		return nil, err
	}
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, errBadGitHubToken)
	}
	var body json.RawMessage
	if err := idt.Claims(&body); err != nil {
		return nil, ErrUnauthenticated
	}
	job, err := ParseJobClaims(body)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	if len(g.AllowedOwners) > 0 && !slices.ContainsFunc(g.AllowedOwners, func(o string) bool { return strings.EqualFold(o, job.RepositoryOwner) }) {
		return nil, ErrUnauthenticated
	}
	ci := job.CI()
	var apps platformv1.ApplicationList
	if err := g.Apps.List(ctx, &apps); err != nil {
		return nil, err
	}
	for i := range apps.Items {
		a := &apps.Items[i]
		if grant, ok := Grant(job, a, g.ProductionEnvironment); ok {
			ci.Apps[store.AppKey{Namespace: a.Namespace, Name: a.Name}] = grant
		}
	}
	return &authz.Principal{CI: ci}, nil
}

// JobClaims are the GitHub Actions token claims Plattr reads.
type JobClaims struct {
	Repository        string `json:"repository"`
	RepositoryID      string `json:"repository_id"`
	RepositoryOwner   string `json:"repository_owner"`
	RepositoryOwnerID string `json:"repository_owner_id"`
	Ref               string `json:"ref"`
	RefType           string `json:"ref_type"`
	Environment       string `json:"environment"`
	EventName         string `json:"event_name"`
	WorkflowRef       string `json:"workflow_ref"`
	JobWorkflowRef    string `json:"job_workflow_ref"`
}

var (
	// GitHub owners: alphanumerics and single hyphens; repository names:
	// alphanumerics, -, _ and . (not . or .. alone).
	ownerPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	namePattern  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	refPattern   = regexp.MustCompile(`^refs/(heads|tags|pull)/[^\x00-\x20\x7f~^:?*\[\\]+$`)
)

// ParseJobClaims reads and checks a verified token's claims: repository
// must be owner/name, consistent with repository_owner; ref a full ref.
func ParseJobClaims(b []byte) (JobClaims, error) {
	var c JobClaims
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("claims: %w", err)
	}
	owner, name, ok := strings.Cut(c.Repository, "/")
	if !ok || !ownerPattern.MatchString(owner) || !namePattern.MatchString(name) || name == "." || name == ".." {
		return c, fmt.Errorf("claim repository=%q: want owner/name", c.Repository)
	}
	if !strings.EqualFold(owner, c.RepositoryOwner) {
		return c, fmt.Errorf("claim repository_owner=%q does not own repository %q", c.RepositoryOwner, c.Repository)
	}
	if !refPattern.MatchString(c.Ref) || strings.Contains(c.Ref, "..") {
		return c, fmt.Errorf("claim ref=%q: want refs/heads/..., refs/tags/... or refs/pull/...", c.Ref)
	}
	return c, nil
}

// CI is the principal the claims make, with no apps yet.
func (c JobClaims) CI() *authz.CI {
	wf := c.WorkflowRef
	if c.JobWorkflowRef != "" && c.JobWorkflowRef != c.WorkflowRef {
		wf += " (job " + c.JobWorkflowRef + ")"
	}
	return &authz.CI{Repository: c.Repository, RepositoryID: c.RepositoryID, OwnerID: c.RepositoryOwnerID, Ref: c.Ref,
		Environment: c.Environment, EventName: c.EventName, WorkflowRef: wf, Apps: map[store.AppKey]authz.CIGrant{}}
}

// CanonicalRepository turns spec.repository into owner/name, lower case,
// when it names a GitHub repository: github.com/owner/name, with or
// without https:// and a trailing .git or slash. Anything else (another
// host, more path) names no GitHub repository.
func CanonicalRepository(spec string) (string, bool) {
	s := strings.TrimSpace(spec)
	s = strings.TrimPrefix(s, "https://")
	rest, ok := strings.CutPrefix(strings.ToLower(s), "github.com/")
	if !ok {
		return "", false
	}
	rest = strings.TrimSuffix(strings.TrimSuffix(rest, "/"), ".git")
	owner, name, ok := strings.Cut(rest, "/")
	if !ok || !ownerPattern.MatchString(owner) || !namePattern.MatchString(name) || name == "." || name == ".." {
		return "", false
	}
	return owner + "/" + name, true
}

// pullRequestEvent: pull_request, pull_request_target (which carries the
// default branch's ref), pull_request_review...: events a pull request's
// author sets off, never production.
func pullRequestEvent(e string) bool { return strings.HasPrefix(e, "pull_request") }

// Grant says whether the job's repository is app's, and what it may do:
// deploy non-production apps from any ref; production only from the
// app's default branch (AnnotationCIDefaultBranch, default main) or the
// protected environment, and never from a pull request event. An app that
// pins its repository's id (AnnotationCIRepositoryID) grants nothing to
// another id.
func Grant(c JobClaims, app *platformv1.Application, productionEnvironment string) (authz.CIGrant, bool) {
	repo, ok := CanonicalRepository(app.Spec.Repository)
	if !ok || repo != strings.ToLower(c.Repository) {
		return authz.CIGrant{}, false
	}
	if pin := app.Annotations[platformv1.AnnotationCIRepositoryID]; pin != "" && pin != c.RepositoryID {
		return authz.CIGrant{}, false
	}
	if app.Spec.Environment != platformv1.EnvironmentProduction {
		return authz.CIGrant{Deploy: true}, true
	}
	branch := app.Annotations[platformv1.AnnotationCIDefaultBranch]
	if branch == "" {
		branch = "main"
	}
	why := fmt.Sprintf("of a job on refs/heads/%s (the default branch, annotation %s)", branch, platformv1.AnnotationCIDefaultBranch)
	if productionEnvironment != "" {
		why += fmt.Sprintf(", or in the protected GitHub environment %q,", productionEnvironment)
	}
	why += " not a pull request: production app " + app.Namespace + "/" + app.Name
	switch {
	case pullRequestEvent(c.EventName):
		return authz.CIGrant{Why: why}, true
	case c.Ref == "refs/heads/"+branch:
		return authz.CIGrant{Deploy: true}, true
	case productionEnvironment != "" && c.Environment == productionEnvironment:
		return authz.CIGrant{Deploy: true}, true
	}
	return authz.CIGrant{Why: why}, true
}
