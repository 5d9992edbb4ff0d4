// Package keycloaktest is a FAKE Keycloak for tests: Keycloak (a Java
// server) cannot run on the machines Plattr's tests run on. It is an HTTP
// server that follows Keycloak's documented admin REST API
// (https://www.keycloak.org/docs-api/latest/rest-api/) for the parts Plattr
// uses, with Keycloak's status codes and behaviours:
//
//   - POST /realms/master/protocol/openid-connect/token: password grant of
//     the admin-cli client; 401 on bad credentials; tokens expire.
//   - /admin/realms: GET/POST/PUT/DELETE of realms (409 on a duplicate,
//     404 on a missing realm), every call needs "Authorization: Bearer".
//   - /admin/realms/{realm}/clients: list (with ?clientId=), POST (201 with
//     a Location header, generated id, 409 on a duplicate clientId), PUT,
//     DELETE, and GET .../{id}/client-secret.
//   - /admin/realms/{realm}/identity-provider/instances: list, GET, POST,
//     PUT, DELETE by alias; like Keycloak it masks clientSecret on reads.
//
// It also counts writes, so tests can assert that a no-op reconcile
// writes nothing.
package keycloaktest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Server is a running fake Keycloak.
type Server struct {
	*httptest.Server
	User, Password string
	TokenLifetime  time.Duration

	mu     sync.Mutex
	tokens map[string]time.Time
	realms map[string]*realm
	writes int
}

type realm struct {
	rep     map[string]any
	clients map[string]map[string]any // by internal id
	idps    map[string]map[string]any // by alias
}

// New starts a fake Keycloak with one admin user.
func New(user, password string) *Server {
	s := &Server{User: user, Password: password, TokenLifetime: time.Minute,
		tokens: map[string]time.Time{}, realms: map[string]*realm{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Writes counts the admin API's successful writes.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Realm returns a copy of a realm's representation, or nil.
func (s *Server) Realm(name string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.realms[name]; ok {
		return clone(r.rep)
	}
	return nil
}

// Clients returns copies of a realm's clients, secrets included.
func (s *Server) Clients(realmName string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	if r, ok := s.realms[realmName]; ok {
		for _, c := range r.clients {
			out = append(out, clone(c))
		}
	}
	return out
}

// IdentityProviders returns copies of a realm's identity providers, unmasked.
func (s *Server) IdentityProviders(realmName string) map[string]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]any{}
	if r, ok := s.realms[realmName]; ok {
		for a, idp := range r.idps {
			out[a] = clone(idp)
		}
	}
	return out
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func keycloakError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"errorMessage": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path == "/realms/master/protocol/openid-connect/token" && r.Method == http.MethodPost {
		s.token(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/admin/realms") {
		http.NotFound(w, r)
		return
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if exp, ok := s.tokens[tok]; !ok || time.Now().After(exp) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "HTTP 401 Unauthorized"})
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/admin/realms"), "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	code := s.admin(w, r, parts)
	if r.Method != http.MethodGet && code < 300 {
		s.writes++
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		keycloakError(w, http.StatusBadRequest, "invalid form")
		return
	}
	if r.Form.Get("grant_type") != "password" || r.Form.Get("client_id") != "admin-cli" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	if r.Form.Get("username") != s.User || r.Form.Get("password") != s.Password {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_grant", "error_description": "Invalid user credentials"})
		return
	}
	tok := newID()
	s.tokens[tok] = time.Now().Add(s.TokenLifetime)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int(s.TokenLifetime.Seconds()), "token_type": "Bearer"})
}

func decode(r *http.Request) (map[string]any, bool) {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		return nil, false
	}
	return m, true
}

// admin serves /admin/realms/...; it returns the status code it wrote.
func (s *Server) admin(w http.ResponseWriter, r *http.Request, p []string) int {
	fail := func(code int, msg string) int { keycloakError(w, code, msg); return code }
	ok := func(code int, v any) int {
		if v == nil {
			w.WriteHeader(code)
		} else {
			writeJSON(w, code, v)
		}
		return code
	}
	if len(p) == 0 {
		switch r.Method {
		case http.MethodGet:
			var out []map[string]any
			for _, rl := range s.realms {
				out = append(out, clone(rl.rep))
			}
			return ok(http.StatusOK, out)
		case http.MethodPost:
			rep, good := decode(r)
			name, _ := rep["realm"].(string)
			if !good || name == "" {
				return fail(http.StatusBadRequest, "realm name is required")
			}
			if _, exists := s.realms[name]; exists {
				return fail(http.StatusConflict, "Conflict detected. See logs for details")
			}
			rep["id"] = name
			s.realms[name] = &realm{rep: rep, clients: map[string]map[string]any{}, idps: map[string]map[string]any{}}
			w.Header().Set("Location", s.URL+"/admin/realms/"+name)
			return ok(http.StatusCreated, nil)
		}
		return fail(http.StatusMethodNotAllowed, "method not allowed")
	}
	rl, exists := s.realms[p[0]]
	if !exists {
		return fail(http.StatusNotFound, "Realm not found.")
	}
	if len(p) == 1 {
		switch r.Method {
		case http.MethodGet:
			return ok(http.StatusOK, rl.rep)
		case http.MethodPut:
			rep, good := decode(r)
			if !good {
				return fail(http.StatusBadRequest, "invalid JSON")
			}
			for k, v := range rep {
				rl.rep[k] = v
			}
			return ok(http.StatusNoContent, nil)
		case http.MethodDelete:
			delete(s.realms, p[0])
			return ok(http.StatusNoContent, nil)
		}
		return fail(http.StatusMethodNotAllowed, "method not allowed")
	}
	switch p[1] {
	case "clients":
		return s.clients(w, r, rl, p[2:], ok, fail)
	case "identity-provider":
		if len(p) >= 3 && p[2] == "instances" {
			return s.idps(r, rl, p[3:], ok, fail)
		}
	}
	return fail(http.StatusNotFound, "not found")
}

func (s *Server) clients(w http.ResponseWriter, r *http.Request, rl *realm, p []string, ok func(int, any) int, fail func(int, string) int) int {
	public := func(c map[string]any) map[string]any {
		c = clone(c)
		delete(c, "secret") // read through .../client-secret, as in Keycloak
		return c
	}
	if len(p) == 0 {
		switch r.Method {
		case http.MethodGet:
			out := []map[string]any{}
			want := r.URL.Query().Get("clientId")
			for _, c := range rl.clients {
				if want == "" || c["clientId"] == want {
					out = append(out, public(c))
				}
			}
			return ok(http.StatusOK, out)
		case http.MethodPost:
			rep, good := decode(r)
			cid, _ := rep["clientId"].(string)
			if !good || cid == "" {
				return fail(http.StatusBadRequest, "clientId is required")
			}
			for _, c := range rl.clients {
				if c["clientId"] == cid {
					return fail(http.StatusConflict, "Client "+cid+" already exists")
				}
			}
			id := newID()
			rep["id"] = id
			if s, _ := rep["secret"].(string); s == "" {
				rep["secret"] = newID() // Keycloak generates one when none is given
			}
			rl.clients[id] = rep
			w.Header().Set("Location", s.URL+"/admin/realms/"+rl.rep["realm"].(string)+"/clients/"+id)
			return ok(http.StatusCreated, nil)
		}
		return fail(http.StatusMethodNotAllowed, "method not allowed")
	}
	c, exists := rl.clients[p[0]]
	if !exists {
		return fail(http.StatusNotFound, "Could not find client")
	}
	if len(p) == 2 && p[1] == "client-secret" && r.Method == http.MethodGet {
		return ok(http.StatusOK, map[string]any{"type": "secret", "value": c["secret"]})
	}
	if len(p) != 1 {
		return fail(http.StatusNotFound, "not found")
	}
	switch r.Method {
	case http.MethodGet:
		return ok(http.StatusOK, public(c))
	case http.MethodPut:
		rep, good := decode(r)
		if !good {
			return fail(http.StatusBadRequest, "invalid JSON")
		}
		for k, v := range rep {
			if k != "id" {
				c[k] = v
			}
		}
		return ok(http.StatusNoContent, nil)
	case http.MethodDelete:
		delete(rl.clients, p[0])
		return ok(http.StatusNoContent, nil)
	}
	return fail(http.StatusMethodNotAllowed, "method not allowed")
}

func (s *Server) idps(r *http.Request, rl *realm, p []string, ok func(int, any) int, fail func(int, string) int) int {
	masked := func(idp map[string]any) map[string]any {
		idp = clone(idp)
		if cfg, _ := idp["config"].(map[string]any); cfg != nil && cfg["clientSecret"] != nil {
			cfg["clientSecret"] = "**********"
		}
		return idp
	}
	if len(p) == 0 {
		switch r.Method {
		case http.MethodGet:
			out := []map[string]any{}
			for _, idp := range rl.idps {
				out = append(out, masked(idp))
			}
			return ok(http.StatusOK, out)
		case http.MethodPost:
			rep, good := decode(r)
			alias, _ := rep["alias"].(string)
			if !good || alias == "" || rep["providerId"] == nil {
				return fail(http.StatusBadRequest, "alias and providerId are required")
			}
			if _, dup := rl.idps[alias]; dup {
				return fail(http.StatusConflict, "Identity Provider "+alias+" already exists")
			}
			rl.idps[alias] = rep
			return ok(http.StatusCreated, nil)
		}
		return fail(http.StatusMethodNotAllowed, "method not allowed")
	}
	idp, exists := rl.idps[p[0]]
	if !exists {
		return fail(http.StatusNotFound, "Could not find identity provider")
	}
	switch r.Method {
	case http.MethodGet:
		return ok(http.StatusOK, masked(idp))
	case http.MethodPut:
		rep, good := decode(r)
		if !good {
			return fail(http.StatusBadRequest, "invalid JSON")
		}
		// Like Keycloak, the masked placeholder keeps the stored secret.
		if cfg, _ := rep["config"].(map[string]any); cfg != nil && cfg["clientSecret"] == "**********" {
			if old, _ := idp["config"].(map[string]any); old != nil {
				cfg["clientSecret"] = old["clientSecret"]
			}
		}
		rl.idps[p[0]] = rep
		return ok(http.StatusNoContent, nil)
	case http.MethodDelete:
		delete(rl.idps, p[0])
		return ok(http.StatusNoContent, nil)
	}
	return fail(http.StatusMethodNotAllowed, "method not allowed")
}
