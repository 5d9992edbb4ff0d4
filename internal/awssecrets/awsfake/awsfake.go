// Package awsfake is a FAKE of AWS Secrets Manager, for tests: AWS cannot
// run here. It follows the documented API (JSON 1.1 protocol: POST / with
// X-Amz-Target "secretsmanager.<Action>", a SigV4 Authorization header,
// errors as {"__type", "Message"}) for the actions Plattr uses and the tests
// need: GetSecretValue and PutSecretValue (Create seeds a secret from the
// test side). Reference:
// https://docs.aws.amazon.com/secretsmanager/latest/apireference/ (actions
// and common errors). It checks that each request is signed for the
// secretsmanager service, the right region and a known access key, not the
// signature itself.
package awsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Server is a running fake.
type Server struct {
	URL       string
	Region    string
	AccessKey string
	Account   string

	srv     *httptest.Server
	mu      sync.Mutex
	secrets map[string]*secret // by ARN
	calls   map[string]int     // by action
}

type secret struct {
	arn, name, value, version string
	created                   time.Time
	versions                  int
}

// Start serves the fake on 127.0.0.1; requests must be signed with accessKey.
func Start(region, accessKey string) *Server {
	s := &Server{Region: region, AccessKey: accessKey, Account: "123456789012",
		secrets: map[string]*secret{}, calls: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the fake.
func (s *Server) Close() { s.srv.Close() }

// Create stores a secret named name and returns its ARN (with the random
// six-character suffix Secrets Manager adds).
func (s *Server) Create(name, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", s.Region, s.Account, name)
	s.secrets[arn] = &secret{arn: arn, name: name, value: value, version: "v1", created: time.Now(), versions: 1}
	return arn
}

// Put stores a new current version of the secret, as a rotation does.
func (s *Server) Put(arn, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[arn]
	sec.versions++
	sec.value, sec.version = value, fmt.Sprintf("v%d", sec.versions)
}

// Calls counts the requests made for action, e.g. "GetSecretValue".
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": msg})
	}
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	if r.Method != http.MethodPost || !ok {
		fail(http.StatusBadRequest, "InvalidAction", "want POST with X-Amz-Target: secretsmanager.<Action>")
		return
	}
	auth := r.Header.Get("Authorization")
	scope := fmt.Sprintf("Credential=%s/", s.AccessKey)
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !strings.Contains(auth, scope) ||
		!strings.Contains(auth, "/"+s.Region+"/secretsmanager/aws4_request") || !strings.Contains(auth, "Signature=") {
		fail(http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid.")
		return
	}
	var in struct{ SecretId, SecretString, Name string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(http.StatusBadRequest, "InvalidRequestException", "request body is not JSON")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[action]++
	find := func(id string) *secret {
		for _, sec := range s.secrets {
			if sec.arn == id || sec.name == id {
				return sec
			}
		}
		return nil
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch action {
	case "GetSecretValue":
		sec := find(in.SecretId)
		if sec == nil {
			fail(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		reply(map[string]any{"ARN": sec.arn, "Name": sec.name, "SecretString": sec.value, "VersionId": sec.version,
			"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": float64(sec.created.Unix())})
	case "PutSecretValue":
		sec := find(in.SecretId)
		if sec == nil {
			fail(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		sec.versions++
		sec.value, sec.version = in.SecretString, fmt.Sprintf("v%d", sec.versions)
		reply(map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": sec.version, "VersionStages": []string{"AWSCURRENT"}})
	default:
		fail(http.StatusBadRequest, "InvalidAction", "the fake does not implement "+action)
	}
}
