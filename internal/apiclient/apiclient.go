// Package apiclient is how the CLI talks to the platform API: one client,
// configured from PLATTR_API_URL and PLATTR_TOKEN (or the --api-url and
// --token flags). Inside a GitHub Actions job with `permissions: id-token:
// write` and no token set, it asks the Actions runtime for an OIDC ID
// token for the API's audience and sends that instead: CI holds no
// standing credential.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Environment variables the client reads.
const (
	EnvURL      = "PLATTR_API_URL"
	EnvToken    = "PLATTR_TOKEN"
	EnvAudience = "PLATTR_OIDC_AUDIENCE"
	// GitHub sets these in a job allowed to request ID tokens.
	EnvActionsRequestURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvActionsRequestToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// DefaultAudience is the aud CI asks GitHub for; set the API's
// GITHUB_OIDC_AUDIENCE to it (docs/AUTH.md).
const DefaultAudience = "plattr"

// Options are the flags; empty fields fall back to the environment.
type Options struct {
	URL, Token, Audience string
	Getenv               func(string) string
	HTTP                 *http.Client
}

// Client calls the platform API.
type Client struct {
	URL  string
	HTTP *http.Client
	// token returns the bearer token (an API token, or a fresh GitHub ID
	// token).
	token func(context.Context) (string, error)
	// Keyless says the token comes from GitHub Actions.
	Keyless bool
}

// Wanted reports whether the CLI should go through the API: a URL or a
// token is set, or this is a GitHub Actions job that may request an ID
// token.
func Wanted(o Options) bool {
	get := o.getenv()
	return o.URL != "" || get(EnvURL) != "" || o.Token != "" || get(EnvToken) != "" || get(EnvActionsRequestURL) != ""
}

func (o Options) getenv() func(string) string {
	if o.Getenv != nil {
		return o.Getenv
	}
	return os.Getenv
}

// New builds the client from the options and the environment.
func New(o Options) (*Client, error) {
	get := o.getenv()
	first := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	base := strings.TrimRight(first(o.URL, get(EnvURL)), "/")
	if base == "" {
		return nil, fmt.Errorf("no platform API to talk to: set %s (or --api-url) to its URL, e.g. https://platform.example.com", EnvURL)
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%s=%q: want http(s)://host[:port]", EnvURL, base)
	}
	c := &Client{URL: base, HTTP: o.HTTP}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if tok := first(o.Token, get(EnvToken)); tok != "" {
		c.token = func(context.Context) (string, error) { return tok, nil }
		return c, nil
	}
	reqURL, reqTok := get(EnvActionsRequestURL), get(EnvActionsRequestToken)
	if reqURL == "" || reqTok == "" {
		return nil, fmt.Errorf("no credentials for %s: set %s (or --token) to an API token, or in GitHub Actions give the job `permissions: id-token: write`", base, EnvToken)
	}
	aud := first(o.Audience, first(get(EnvAudience), DefaultAudience))
	c.Keyless = true
	c.token = func(ctx context.Context) (string, error) { return c.actionsToken(ctx, reqURL, reqTok, aud) }
	return c, nil
}

// actionsToken asks the Actions runtime for an ID token, as GitHub
// documents: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with
// "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" answers
// {"value": "<jwt>"}.
func (c *Client) actionsToken(ctx context.Context, reqURL, reqTok, aud string) (string, error) {
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL: %w", EnvActionsRequestURL, err)
	}
	q := u.Query()
	q.Set("audience", aud)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "bearer "+reqTok)
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("asking GitHub Actions for an ID token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GitHub Actions refused an ID token (HTTP %d): does the job have `permissions: id-token: write`?", resp.StatusCode)
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || out.Value == "" {
		return "", errors.New("GitHub Actions answered no ID token")
	}
	return out.Value, nil
}

// Error is the API's error answer.
type Error struct {
	Status  int
	Message string `json:"error"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	return fmt.Sprintf("the platform API refused (HTTP %d): %s", e.Status, msg)
}

// Do sends a JSON request and decodes the JSON answer into out.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return err
	}
	tok, err := c.token(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return e
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Task is a recorded task, as the API answers it.
type Task struct {
	ID        int64  `json:"id"`
	Namespace string `json:"namespace"`
	App       string `json:"app"`
	Operation string `json:"operation"`
	State     string `json:"state"`
	Actor     string `json:"actor"`
	Reason    string `json:"reason,omitempty"`
}

// Task states that end a task.
const (
	TaskDone     = "Done"
	TaskFailed   = "Failed"
	TaskCanceled = "Canceled"
)

// Install asks the API to create app namespace/name with spec (any JSON
// form of an ApplicationSpec): an Install task.
func (c *Client) Install(ctx context.Context, namespace, name string, spec any) (Task, error) {
	var t Task
	err := c.Do(ctx, "POST", "/api/v1/apps", map[string]any{"namespace": namespace, "name": name, "spec": spec}, &t)
	return t, err
}

// Deploy asks the API to run image as app namespace/name: an Upgrade task.
func (c *Client) Deploy(ctx context.Context, namespace, name, image string) (Task, error) {
	var t Task
	err := c.Do(ctx, "POST", "/api/v1/apps/"+url.PathEscape(namespace)+"/"+url.PathEscape(name)+"/deploy", map[string]string{"imageRef": image}, &t)
	return t, err
}

// GetTask reads one task.
func (c *Client) GetTask(ctx context.Context, id int64) (Task, error) {
	var t Task
	err := c.Do(ctx, "GET", fmt.Sprintf("/api/v1/tasks/%d", id), nil, &t)
	return t, err
}

// App is the part of an app the CLI shows.
type App struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Phase     string `json:"phase"`
	Image     string `json:"image"`
	URL       string `json:"url"`
	Ready     bool   `json:"ready"`
	// Generation moves with each spec change; ObservedGeneration when the
	// operator has reconciled it.
	Generation         int64     `json:"generation"`
	ObservedGeneration int64     `json:"observedGeneration"`
	Previews           []Preview `json:"previews,omitempty"`
}

// GetApp reads one app.
func (c *Client) GetApp(ctx context.Context, namespace, name string) (App, error) {
	var a App
	err := c.Do(ctx, "GET", "/api/v1/apps/"+url.PathEscape(namespace)+"/"+url.PathEscape(name), nil, &a)
	return a, err
}

// WaitTask polls the task until it ends; a Failed or Canceled task is an
// error naming why.
func (c *Client) WaitTask(ctx context.Context, id int64, every time.Duration) (Task, error) {
	for {
		t, err := c.GetTask(ctx, id)
		if err != nil {
			return t, err
		}
		switch t.State {
		case TaskDone:
			return t, nil
		case TaskFailed, TaskCanceled:
			return t, fmt.Errorf("task %d (%s of %s/%s) %s: %s", t.ID, t.Operation, t.Namespace, t.App, strings.ToLower(t.State), t.Reason)
		}
		select {
		case <-ctx.Done():
			return t, fmt.Errorf("task %d is still %s: %w", t.ID, t.State, ctx.Err())
		case <-time.After(every):
		}
	}
}

// Preview is one of an app's previews, as the app lists them.
type Preview struct {
	Name        string `json:"name"`
	PullRequest int32  `json:"pullRequest"`
	Phase       string `json:"phase"`
	URL         string `json:"url,omitempty"`
}

// CreatePreview asks the API for a preview of pull request pr running
// image: an InvokeAction task.
func (c *Client) CreatePreview(ctx context.Context, namespace, app string, pr int, image, ttl string) (Task, error) {
	var t Task
	err := c.Do(ctx, "POST", "/api/v1/apps/"+url.PathEscape(namespace)+"/"+url.PathEscape(app)+"/previews",
		map[string]any{"pullRequest": pr, "imageRef": image, "ttl": ttl}, &t)
	return t, err
}

// DeletePreview asks the API to delete the app's preview name.
func (c *Client) DeletePreview(ctx context.Context, namespace, app, name string) (Task, error) {
	var t Task
	err := c.Do(ctx, "DELETE", "/api/v1/apps/"+url.PathEscape(namespace)+"/"+url.PathEscape(app)+"/previews/"+url.PathEscape(name), nil, &t)
	return t, err
}
