package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/plattr/plattr/internal/platformapi/authz"
	"github.com/plattr/plattr/internal/platformapi/store"
	"github.com/plattr/plattr/internal/platformapi/tasks"
)

// deployRequest runs a new image of an app: what CI sends.
type deployRequest struct {
	// ImageRef is the image to run, e.g. ghcr.io/org/app:SHA.
	ImageRef  string     `json:"imageRef"`
	ExecuteAt *time.Time `json:"executeAt,omitempty"`
}

// deployApp records an Upgrade task that changes spec.imageRef and
// nothing else, so a CI job (which may only deploy) cannot rewrite the
// rest of the spec its owners set.
func (s *Server) deployApp(c *call) (any, error) {
	key, err := s.visibleApp(c, authz.DeployApp)
	if err != nil {
		return nil, err
	}
	var req deployRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	req.ImageRef = strings.TrimSpace(req.ImageRef)
	if req.ImageRef == "" {
		return nil, badRequest("imageRef", "imageRef is required: the image to run, e.g. ghcr.io/org/app:1.2.3")
	}
	a, err := s.loadApp(c.ctx(), key)
	if err != nil {
		return nil, err
	}
	spec := a.Spec.DeepCopy()
	spec.ImageRef = req.ImageRef
	defaulted, err := s.validate(c.ctx(), key, spec)
	if err != nil {
		return nil, err
	}
	r := tasks.Request{Spec: spec}
	if ci := c.p.CI; ci != nil {
		// What GitHub said about the job, for the history.
		r.Reason = fmt.Sprintf("GitHub Actions: workflow %s, event %s, repository_id %s, owner_id %s", ci.WorkflowRef, ci.EventName, ci.RepositoryID, ci.OwnerID)
		if ci.Environment != "" {
			r.Reason += ", environment " + ci.Environment
		}
	}
	return s.Store.CreateTask(c.ctx(), store.NewTask{
		Namespace: key.Namespace, App: key.Name, Operation: store.OpUpgrade, Actor: c.p.Actor(), AppUID: string(a.UID),
		Request: r, Diff: tasks.Diff(&a.Spec, defaulted), ExecuteAt: req.ExecuteAt,
	})
}
