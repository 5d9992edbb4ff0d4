package ext

import (
	"encoding/json"
	"fmt"
)

// wireFeaturesV0 is v0's features, also platz.io/v1beta1's spec.
type wireFeaturesV0 struct {
	StandardIngress       bool         `json:"standard_ingress"`
	Status                *wireStatus  `json:"status"`
	Cardinality           *string      `json:"cardinality"`
	ReinstallDependencies *bool        `json:"reinstall_dependencies"`
	NodeSelectorPaths     [][]string   `json:"node_selector_paths"`
	TolerationsPaths      [][]string   `json:"tolerations_paths"`
	Ingress               *wireIngress `json:"ingress"` // v1beta2 only
	Display               *wireDisplay `json:"display"` // v1beta2 only
}

type wireIngress struct {
	Enabled        bool   `json:"enabled"`
	HostnameFormat string `json:"hostname_format"`
}

type wireStatus struct {
	Endpoint            string  `json:"endpoint"`
	Path                string  `json:"path"`
	RefreshIntervalSecs *uint64 `json:"refresh_interval_secs"`
}

type wireDisplay struct {
	Name json.RawMessage `json:"name"`
	Icon *struct {
		FontAwesome string `json:"font_awesome"`
	} `json:"icon"`
}

type wireFeatures struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Spec       wireFeaturesV0 `json:"spec"`
}

func parseFeatures(raw json.RawMessage) (*Features, error) {
	v, err := version(raw, "Features", V1Beta2, V1Beta1)
	if err != nil {
		return nil, err
	}
	var w wireFeaturesV0
	if v == V0 {
		err = strict(raw, &w, false)
	} else {
		var h wireFeatures
		err = strict(raw, &h, false)
		w = h.Spec
	}
	if err != nil {
		return nil, err
	}
	f := Defaults()
	f.Version = v
	switch v {
	case V1Beta2:
		if w.Ingress != nil {
			f.Ingress.Enabled = w.Ingress.Enabled
			switch w.Ingress.HostnameFormat {
			case "":
			case FormatKN, FormatN:
				f.Ingress.HostnameFormat = w.Ingress.HostnameFormat
			default:
				return nil, fmt.Errorf("spec.ingress.hostname_format %q is not Name or KindAndName", w.Ingress.HostnameFormat)
			}
		}
		if w.Display != nil {
			d, err := w.Display.normalize()
			if err != nil {
				return nil, err
			}
			f.Display = d
		}
	default:
		f.Ingress.Enabled = w.StandardIngress
	}
	prefix := ""
	if v != V0 {
		prefix = "spec."
	}
	if w.Status != nil {
		if w.Status.Endpoint != "standard_ingress" {
			return nil, fmt.Errorf("%sstatus.endpoint %q: the only endpoint is standard_ingress", prefix, w.Status.Endpoint)
		}
		if w.Status.RefreshIntervalSecs == nil {
			return nil, fmt.Errorf("%sstatus.refresh_interval_secs is missing", prefix)
		}
		f.Status = &StatusFeature{Endpoint: w.Status.Endpoint, Path: w.Status.Path, RefreshIntervalSecs: *w.Status.RefreshIntervalSecs}
	}
	if w.Cardinality != nil {
		if *w.Cardinality != Many && *w.Cardinality != OnePer {
			return nil, fmt.Errorf("%scardinality %q is not Many or OnePerCluster", prefix, *w.Cardinality)
		}
		f.Cardinality = *w.Cardinality
	}
	if w.ReinstallDependencies != nil {
		f.ReinstallDependencies = *w.ReinstallDependencies
	}
	for i, p := range append(append([][]string{}, w.NodeSelectorPaths...), w.TolerationsPaths...) {
		if len(p) == 0 {
			return nil, fmt.Errorf("%snode_selector_paths/tolerations_paths[%d]: an empty path", prefix, i)
		}
	}
	f.NodeSelectorPaths, f.TolerationsPaths = w.NodeSelectorPaths, w.TolerationsPaths
	return &f, nil
}

func (w *wireDisplay) normalize() (*Display, error) {
	d := &Display{}
	if w.Icon != nil {
		d.Icon = w.Icon.FontAwesome
	}
	if len(w.Name) > 0 {
		var s string
		var field struct {
			InputField *struct {
				Name string `json:"name"`
			} `json:"InputField"`
		}
		switch {
		case json.Unmarshal(w.Name, &s) == nil && s == "DeploymentName":
			d.Name = s
		case strict(w.Name, &field, true) == nil && field.InputField != nil:
			d.Name = "input:" + field.InputField.Name
		default:
			return nil, fmt.Errorf("spec.display.name: DeploymentName or InputField: {name}")
		}
	}
	return d, nil
}
