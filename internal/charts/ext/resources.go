package ext

import (
	"encoding/json"
	"fmt"
	"slices"
)

// wireResourceType is one platz.io/v1beta1 ResourceType of
// platz/resources.yaml (a list of them).
type wireResourceType struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Key        string `json:"key"`
	Spec       struct {
		NameSingular string          `json:"name_singular"`
		NamePlural   string          `json:"name_plural"`
		Icon         string          `json:"fontawesome_icon"`
		Global       bool            `json:"global"`
		ValuesUI     json.RawMessage `json:"values_ui"`
		Lifecycle    map[string]*struct {
			AllowedRole string `json:"allowed_role"`
			Target      *struct {
				Endpoint string `json:"endpoint"`
				Path     string `json:"path"`
				Method   string `json:"method"`
			} `json:"target"`
		} `json:"lifecycle"`
	} `json:"spec"`
}

func parseResources(raw json.RawMessage) (*[]ResourceType, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("a list of ResourceType objects: %v", err)
	}
	out := []ResourceType{}
	for i, item := range list {
		if v, err := version(item, "ResourceType", V1Beta1); err != nil || v != V1Beta1 {
			if err == nil {
				err = fmt.Errorf("apiVersion is missing (resource types are platz.io/v1beta1)")
			}
			return nil, fmt.Errorf("[%d]: %v", i, err)
		}
		var w wireResourceType
		if err := strict(item, &w, false); err != nil {
			return nil, fmt.Errorf("[%d]: %v", i, err)
		}
		if w.Key == "" {
			return nil, fmt.Errorf("[%d]: key is missing", i)
		}
		ui, err := parseUISchema(w.Spec.ValuesUI)
		if err != nil {
			return nil, fmt.Errorf("[%d] (%s): spec.values_ui: %v", i, w.Key, err)
		}
		ui.Version = V0
		rt := ResourceType{Key: w.Key, NameSingular: w.Spec.NameSingular, NamePlural: w.Spec.NamePlural, Icon: w.Spec.Icon, Global: w.Spec.Global, ValuesUI: *ui}
		for name, l := range w.Spec.Lifecycle {
			if !slices.Contains([]string{"create", "update", "delete"}, name) {
				return nil, fmt.Errorf("[%d] (%s): spec.lifecycle.%s: the lifecycle steps are create, update and delete", i, w.Key, name)
			}
			if l == nil {
				continue
			}
			t := Trigger{AllowedRole: l.AllowedRole}
			if l.Target != nil {
				t.Endpoint, t.Path, t.Method = l.Target.Endpoint, l.Target.Path, l.Target.Method
			}
			if rt.Lifecycle == nil {
				rt.Lifecycle = map[string]Trigger{}
			}
			rt.Lifecycle[name] = t
		}
		out = append(out, rt)
	}
	return &out, nil
}
