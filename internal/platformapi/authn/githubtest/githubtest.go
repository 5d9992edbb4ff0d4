// Package githubtest is a token issuer of our own for tests, standing in
// for GitHub Actions' OIDC provider (GitHub cannot run here). It follows
// GitHub's documented discovery document
// (https://token.actions.githubusercontent.com/.well-known/openid-configuration:
// issuer, jwks_uri, response_types_supported id_token, subject_types_supported
// public, id_token_signing_alg_values_supported RS256, claims_supported)
// and its documented ID token claims (sub, aud, iss, exp, iat, nbf,
// repository, repository_id, repository_owner, repository_owner_id, ref,
// ref_type, environment, workflow_ref, job_workflow_ref, event_name, sha,
// actor, run_id ...), signed RS256 with a key published at jwks_uri.
//
// It also fakes the Actions runtime's token endpoint, as GitHub documents
// it for a job with `permissions: id-token: write`: the job sees
// ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN; a GET of
// $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with
// "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" answers
// {"value": "<jwt>"} with aud set to AUD.
package githubtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Issuer is a running token issuer on 127.0.0.1.
type Issuer struct {
	*httptest.Server
	Key   *rsa.PrivateKey
	KeyID string
}

// Start starts an issuer; its issuer URL is its server's URL.
func Start() *Issuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	is := &Issuer{Key: key, KeyID: "test-key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                is.URL,
			"jwks_uri":                              is.URL + "/.well-known/jwks",
			"subject_types_supported":               []string{"public", "pairwise"},
			"response_types_supported":              []string{"id_token"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"scopes_supported":                      []string{"openid"},
			"claims_supported": []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_id",
				"repository_owner", "repository_owner_id", "run_id", "run_number", "run_attempt", "actor", "actor_id", "workflow",
				"workflow_ref", "workflow_sha", "head_ref", "base_ref", "event_name", "ref_type", "ref_protected", "environment",
				"environment_node_id", "job_workflow_ref", "job_workflow_sha", "repository_visibility", "runner_environment"},
		})
	})
	mux.HandleFunc("GET /.well-known/jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": is.KeyID,
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	is.Server = httptest.NewServer(mux)
	return is
}

// Claims are a job's token claims, as GitHub names them.
type Claims map[string]any

// Job returns the claims of a push workflow's job in repo (owner/name)
// at ref, for audience aud, valid for five minutes from now.
func (is *Issuer) Job(repo, ref, aud string) Claims {
	owner, _, _ := strings.Cut(repo, "/")
	now := time.Now()
	return Claims{
		"iss": is.URL, "aud": aud, "sub": "repo:" + repo + ":ref:" + ref,
		"iat": now.Unix(), "nbf": now.Add(-5 * time.Second).Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": b64(randBytes(8)), "repository": repo, "repository_id": "424242", "repository_owner": owner,
		"repository_owner_id": "4242", "ref": ref, "ref_type": "branch", "sha": "0123456789abcdef0123456789abcdef01234567",
		"event_name": "push", "actor": "octocat", "actor_id": "1", "run_id": "1", "run_number": "1", "run_attempt": "1",
		"workflow": "plattr deploy", "workflow_ref": repo + "/.github/workflows/plattr-deploy.yml@" + ref,
		"job_workflow_ref": repo + "/.github/workflows/plattr-deploy.yml@" + ref, "repository_visibility": "private",
		"runner_environment": "github-hosted",
	}
}

// Mint signs claims RS256 with the issuer's key.
func (is *Issuer) Mint(c Claims) string {
	return SignRS256(is.Key, is.KeyID, c)
}

// SignRS256 signs claims with any key (a stranger's key makes a token
// whose signature the issuer's JWKS does not verify).
func SignRS256(key *rsa.PrivateKey, kid string, c Claims) string {
	head := b64(mustJSON(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid}))
	body := b64(mustJSON(c))
	sum := sha256.Sum256([]byte(head + "." + body))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return head + "." + body + "." + b64(sig)
}

// Unsigned makes an `alg: none` token, the classic forgery.
func Unsigned(c Claims) string {
	return b64(mustJSON(map[string]string{"alg": "none", "typ": "JWT"})) + "." + b64(mustJSON(c)) + "."
}

// Runtime fakes the Actions runtime's ID token endpoint for one job.
type Runtime struct {
	*httptest.Server
	// RequestToken is ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	RequestToken string
	mu           sync.Mutex
	audiences    []string
}

// StartRuntime serves tokens with claims (aud replaced by the audience
// asked for) signed by is.
func (is *Issuer) StartRuntime(claims Claims) *Runtime {
	rt := &Runtime{RequestToken: b64(randBytes(16))}
	rt.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_apis/pipelines/workflows/1/idtoken" || r.Header.Get("Authorization") != "bearer "+rt.RequestToken {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		aud := r.URL.Query().Get("audience")
		rt.mu.Lock()
		rt.audiences = append(rt.audiences, aud)
		rt.mu.Unlock()
		c := Claims{}
		for k, v := range claims {
			c[k] = v
		}
		if aud != "" {
			c["aud"] = aud
		}
		writeJSON(w, map[string]string{"value": is.Mint(c)})
	}))
	return rt
}

// RequestURL is ACTIONS_ID_TOKEN_REQUEST_URL (it already carries a query,
// which is why clients append &audience=).
func (rt *Runtime) RequestURL() string {
	return rt.URL + "/_apis/pipelines/workflows/1/idtoken?api-version=2.0"
}

// Audiences are the audiences asked for so far.
func (rt *Runtime) Audiences() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]string(nil), rt.audiences...)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
