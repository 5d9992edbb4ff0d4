package v1alpha1

import "strings"

// The API server applies the schema defaults, but the operator must not trust
// that every object it reads went through them (an object stored before a
// default was added, or a client that bypassed defaulting): these accessors
// apply the same defaults in code.

// DefaultScaling is used when spec.scaling is absent.
var DefaultScaling = ScalingSpec{Min: 2, Max: 20, TargetCPU: 70}

// DatabaseEnabled reports whether the app asked for a database.
func (s *ApplicationSpec) DatabaseEnabled() bool { return s.Database != nil && s.Database.Enabled }

// StorageEnabled reports whether the app asked for object storage.
func (s *ApplicationSpec) StorageEnabled() bool { return s.Storage != nil && s.Storage.Enabled }

// AuthEnabled reports whether the app asked for an OIDC client.
func (s *ApplicationSpec) AuthEnabled() bool { return s.Auth != nil && s.Auth.Enabled }

// DeletionPolicy is the database deletion policy in force: Retain for
// production and Delete elsewhere unless the spec says otherwise.
func (s *ApplicationSpec) DeletionPolicy() DeletionPolicy {
	if s.Database != nil && s.Database.DeletionPolicy != "" {
		return s.Database.DeletionPolicy
	}
	if s.Environment == EnvironmentProduction {
		return DeletionPolicyRetain
	}
	return DeletionPolicyDelete
}

// SchemaBase is the app's part of its schema name (before the environment prefix).
func (s *ApplicationSpec) SchemaBase(appName string) string {
	if s.Database != nil && s.Database.SchemaName != "" {
		return s.Database.SchemaName
	}
	return strings.ReplaceAll(appName, "-", "_")
}

// EffectiveScaling returns spec.scaling with defaults filled in.
func (s *ApplicationSpec) EffectiveScaling() ScalingSpec {
	out := DefaultScaling
	if s.Scaling != nil {
		if s.Scaling.Min > 0 {
			out.Min = s.Scaling.Min
		}
		if s.Scaling.Max > 0 {
			out.Max = s.Scaling.Max
		}
		if s.Scaling.TargetCPU > 0 {
			out.TargetCPU = s.Scaling.TargetCPU
		}
	}
	return out
}

// EffectivePort returns spec.port or its default.
func (s *ApplicationSpec) EffectivePort() int32 {
	if s.Port == 0 {
		return 3000
	}
	return s.Port
}

// EffectiveHealthPath returns spec.healthPath or its default.
func (s *ApplicationSpec) EffectiveHealthPath() string {
	if s.HealthPath == "" {
		return "/healthz"
	}
	return s.HealthPath
}
