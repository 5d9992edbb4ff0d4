package application

import "context"

// reconcileAddons covers redis and search, which have no condition of their
// own and are not provided yet: an app asking for them stays Pending.
func (r *Reconciler) reconcileAddons(_ context.Context, s *scope) error {
	if s.app.Spec.Redis != nil && s.app.Spec.Redis.Enabled {
		s.unsupported = append(s.unsupported, "spec.redis is not supported yet; set spec.redis.enabled to false")
	}
	if s.app.Spec.Search != nil && s.app.Spec.Search.Enabled {
		s.unsupported = append(s.unsupported, "spec.search is not supported yet; set spec.search.enabled to false")
	}
	return nil
}
