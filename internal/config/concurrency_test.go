package config

import "testing"

// The admin pool holds a connection for every reconcile that can run at
// once (Applications', PreviewEnvironments' half) plus two, so no
// reconcile of a burst waits for one.
func TestDBPoolSize(t *testing.T) {
	for _, tc := range []struct {
		reconciles int
		want       int32
	}{
		{DefaultMaxConcurrentReconciles, 32 + 16 + 2},
		{8, 8 + 4 + 2},
		{1, 1 + 1 + 2},
		{0, 1 + 1 + 2}, // never a pool of none
	} {
		if got := (Operator{MaxConcurrentReconciles: tc.reconciles}).DBPoolSize(); got != tc.want {
			t.Errorf("MAX_CONCURRENT_RECONCILES=%d: pool of %d, want %d", tc.reconciles, got, tc.want)
		}
	}
	if got := (Operator{}).WithDefaults().DBPoolSize(); got != 50 {
		t.Errorf("default pool of %d, want 50", got)
	}
}
