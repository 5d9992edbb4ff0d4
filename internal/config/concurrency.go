package config

// DefaultMaxConcurrentReconciles is MAX_CONCURRENT_RECONCILES when unset.
// A reconcile spends nearly all its time waiting on the API server and
// PostgreSQL, not on CPU: with 8 a 300-app burst ran at a fifth of the
// rate the API server takes the same objects from a client (make
// bench-scale), with 32 at about three quarters. Each worker is a
// goroutine; what it costs is a database connection (DBPoolSize).
const DefaultMaxConcurrentReconciles = 32

// DBPoolSize is the operator's admin connection pool: one connection for
// every reconcile that can run at once — Applications'
// MAX_CONCURRENT_RECONCILES and PreviewEnvironments' half of it — and two
// for the drift sweep and the health probe, so no reconcile waits for a
// connection.
func (c Operator) DBPoolSize() int32 {
	n := max(c.MaxConcurrentReconciles, 1)
	return int32(n + max(1, n/2) + 2)
}
