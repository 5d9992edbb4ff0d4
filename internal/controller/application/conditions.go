package application

// Event reasons.
const (
	EventPhaseChanged     = "PhaseChanged"
	EventRestored         = "Restored"
	EventRotated          = "CredentialsRotated"
	EventCleanupFailed    = "CleanupFailed"
	EventCleanedUp        = "CleanedUp"
	EventReconcileError   = "ReconcileError"
	EventCleanupAbandoned = "CleanupAbandoned"
	EventPasswordRestored = "PasswordRestored"
)
