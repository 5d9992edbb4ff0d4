package ext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// wireAction is v0's action, also platz.io/v1beta1's spec.
type wireAction struct {
	ID                string          `json:"id"`
	AllowedRole       string          `json:"allowed_role"`
	AllowedOnStatuses []string        `json:"allowed_on_statuses"`
	Endpoint          string          `json:"endpoint"`
	Path              string          `json:"path"`
	Method            string          `json:"method"`
	Title             string          `json:"title"`
	Icon              string          `json:"fontawesome_icon"`
	Description       *string         `json:"description"`
	Dangerous         bool            `json:"dangerous"`
	UISchema          json.RawMessage `json:"ui_schema"`
}

type actions struct {
	list    []Action
	version string
}

var (
	roles   = []string{"Owner", "Maintainer"}
	methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
)

// parseActions reads platz.io/v1beta1 (a list of {apiVersion, kind
// Action, spec}) or v0 ({schema_version, actions}).
func parseActions(raw json.RawMessage) (*actions, error) {
	var wire []wireAction
	v := V0
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		v = V1Beta1
		for i, item := range list {
			if _, err := version(item, "Action", V1Beta1); err != nil {
				return nil, fmt.Errorf("[%d]: %v", i, err)
			}
			var h struct {
				APIVersion string     `json:"apiVersion"`
				Spec       wireAction `json:"spec"`
			}
			if err := strict(item, &h, false); err != nil {
				return nil, fmt.Errorf("[%d]: %v", i, err)
			}
			if h.APIVersion == "" {
				return nil, fmt.Errorf("[%d]: apiVersion is missing (a list of actions is platz.io/v1beta1)", i)
			}
			wire = append(wire, h.Spec)
		}
	} else {
		var w struct {
			SchemaVersion *uint64      `json:"schema_version"`
			Actions       []wireAction `json:"actions"`
		}
		if err := strict(raw, &w, false); err != nil {
			return nil, err
		}
		if w.SchemaVersion == nil || w.Actions == nil {
			return nil, fmt.Errorf("a v0 actions file has schema_version and actions; platz.io/v1beta1 is a list of Action objects")
		}
		wire = w.Actions
	}
	out := &actions{version: v, list: []Action{}}
	seen := map[string]bool{}
	for i, w := range wire {
		where := fmt.Sprintf("actions[%d] (%s)", i, w.ID)
		switch {
		case w.ID == "":
			return nil, fmt.Errorf("actions[%d]: id is missing", i)
		case seen[w.ID]:
			return nil, fmt.Errorf("%s: id is used by an earlier action", where)
		case !slices.Contains(roles, w.AllowedRole):
			return nil, fmt.Errorf("%s: allowed_role %q is not Owner or Maintainer", where, w.AllowedRole)
		case w.Endpoint != "standard_ingress":
			return nil, fmt.Errorf("%s: endpoint %q: the only endpoint is standard_ingress", where, w.Endpoint)
		case !slices.Contains(methods, w.Method):
			return nil, fmt.Errorf("%s: method %q is not GET, POST, PUT, PATCH or DELETE", where, w.Method)
		case w.Title == "":
			return nil, fmt.Errorf("%s: title is missing", where)
		case w.Description == nil:
			return nil, fmt.Errorf("%s: description is missing", where)
		}
		seen[w.ID] = true
		a := Action{ID: w.ID, AllowedRole: w.AllowedRole, AllowedOnStatuses: w.AllowedOnStatuses, Endpoint: w.Endpoint, Path: w.Path,
			Method: w.Method, Title: w.Title, Icon: w.Icon, Description: *w.Description, Dangerous: w.Dangerous}
		if len(w.UISchema) > 0 && string(w.UISchema) != "null" {
			s, err := parseUISchema(w.UISchema)
			if err != nil {
				return nil, fmt.Errorf("%s: ui_schema: %v", where, err)
			}
			a.UISchema = s
		}
		out.list = append(out.list, a)
	}
	return out, nil
}
