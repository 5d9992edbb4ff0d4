package application

// Condition types an Application reports (SPEC §2). Ready is derived from
// the others.
const (
	ConditionDatabaseReady   = "DatabaseReady"
	ConditionStorageReady    = "StorageReady"
	ConditionAuthReady       = "AuthReady"
	ConditionDeploymentReady = "DeploymentReady"
	ConditionIngressReady    = "IngressReady"
	ConditionReady           = "Ready"
)

// ConditionTypes lists every condition type, in the order they are shown.
var ConditionTypes = []string{
	ConditionDatabaseReady, ConditionStorageReady, ConditionAuthReady,
	ConditionDeploymentReady, ConditionIngressReady, ConditionReady,
}

// Condition reasons. Each says why a condition has its status; the message
// beside it says what to do.
const (
	// ReasonDisabled: the app did not ask for this capability.
	ReasonDisabled = "Disabled"
	// ReasonProvisioned: the capability's objects exist and are usable.
	ReasonProvisioned = "Provisioned"
	// ReasonNotSupported: the app asked for an add-on this operator does not provide yet.
	ReasonNotSupported = "NotSupported"
	// ReasonDatabaseUnavailable: PostgreSQL could not be reached or refused a statement.
	ReasonDatabaseUnavailable = "DatabaseUnavailable"
	// ReasonSchemaConflict: the schema or role name belongs to another app.
	ReasonSchemaConflict = "SchemaConflict"
	// ReasonSecretConflict: a Secret with the name Plattr writes belongs to someone else.
	ReasonSecretConflict = "SecretConflict"
	// ReasonStorageNotConfigured: the app asked for storage but the operator has no object store.
	ReasonStorageNotConfigured = "StorageNotConfigured"
	// ReasonObjectStoreUnavailable: the object store could not be reached or refused a request.
	ReasonObjectStoreUnavailable = "ObjectStoreUnavailable"
	// ReasonBucketConflict: a bucket of the app's name belongs to another app.
	ReasonBucketConflict = "BucketConflict"
	// ReasonAuthNotConfigured: the app asked for auth but the operator has no identity provider.
	ReasonAuthNotConfigured = "AuthNotConfigured"
	// ReasonIdentityProviderUnavailable: Keycloak or Dex could not be reached or refused a request.
	ReasonIdentityProviderUnavailable = "IdentityProviderUnavailable"
	// ReasonRealmConflict: the realm or client of the app's name belongs to another app.
	ReasonRealmConflict = "RealmConflict"
	// ReasonProviderCredentialsMissing: an upstream provider in spec.auth.providers has no credentials.
	ReasonProviderCredentialsMissing = "ProviderCredentialsMissing"
	// ReasonAPIError: the Kubernetes API refused a read.
	ReasonAPIError = "APIError"
	// ReasonRotating: the credentials Secret was deleted mid-reconcile; new credentials follow.
	ReasonRotating = "Rotating"
	// ReasonImageMissing: spec.imageRef is empty, so there is nothing to run.
	ReasonImageMissing = "ImageMissing"
	// ReasonWaitingForDatabase: the workload needs the database's Secret first.
	ReasonWaitingForDatabase = "WaitingForDatabase"
	// ReasonWaitingForStorage: the workload needs the storage ConfigMap and Secret first.
	ReasonWaitingForStorage = "WaitingForStorage"
	// ReasonWaitingForAuth: the workload needs the auth ConfigMap and Secret first.
	ReasonWaitingForAuth = "WaitingForAuth"
	// ReasonSecretMissing: an envVars secretKeyRef names a Secret or key that does not exist.
	ReasonSecretMissing = "SecretMissing"
	// ReasonApplyFailed: the API server refused a child object.
	ReasonApplyFailed = "ApplyFailed"
	// ReasonRollingOut: the Deployment's new pods are not all available yet.
	ReasonRollingOut = "RollingOut"
	// ReasonAvailable: the Deployment is Available with every replica updated.
	ReasonAvailable = "Available"
	// ReasonConfigured: the Ingress exists for the app's host.
	ReasonConfigured = "Configured"
	// ReasonWaitingForWorkload: the Ingress waits for the workload to be created.
	ReasonWaitingForWorkload = "WaitingForWorkload"
	// ReasonAllReady: every enabled capability and the workload are ready.
	ReasonAllReady = "AllReady"
	// ReasonNotReady: Ready is False because the named condition is.
	ReasonNotReady = "NotReady"
	// ReasonDeleting: the app is being cleaned up.
	ReasonDeleting = "Deleting"
)

// Event reasons.
const (
	EventPhaseChanged   = "PhaseChanged"
	EventRestored       = "Restored"
	EventRotated        = "CredentialsRotated"
	EventCleanupFailed  = "CleanupFailed"
	EventCleanedUp      = "CleanedUp"
	EventReconcileError = "ReconcileError"
)
