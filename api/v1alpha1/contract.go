package v1alpha1

// The contract every part of Plattr reads: the operator writes these
// conditions, reasons, keys, labels and finalizers; the CLI, the platform
// API and the portal read them. Change them only with a new API version.

// Condition types an Application reports (docs/RESOURCES.md#status). Ready is derived from
// the others.
const (
	ConditionDatabaseReady   = "DatabaseReady"
	ConditionStorageReady    = "StorageReady"
	ConditionAuthReady       = "AuthReady"
	ConditionDeploymentReady = "DeploymentReady"
	ConditionIngressReady    = "IngressReady"
	ConditionReady           = "Ready"
)

// ConditionNamespaceReady: a PreviewEnvironment's own namespace exists
// with its quota and limits.
const ConditionNamespaceReady = "NamespaceReady"

// ConditionDataCopied: the parent's data was copied into a preview that
// asked for it (spec.database.copyFrom).
const ConditionDataCopied = "DataCopied"

// ConditionTypes lists every condition type, in the order they are shown.
var ConditionTypes = []string{
	ConditionDatabaseReady, ConditionStorageReady, ConditionAuthReady,
	ConditionDeploymentReady, ConditionIngressReady, ConditionApiReady, ConditionReady,
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
	// ReasonNoConnectors: the app's Dex client would allow no connector (Dex then accepts every one), so it is not written.
	ReasonNoConnectors = "NoConnectors"
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
	// ReasonSecretNotAllowed: an envVars secretKeyRef names a Secret that is not the app's to read (another app's, Plattr's credentials, a token, a release record) and not shared with it.
	ReasonSecretNotAllowed = "SecretNotAllowed"
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
	// ReasonCleanupFailed: deleting the app's data in a backend failed; retried with backoff.
	ReasonCleanupFailed = "CleanupFailed"
	// ReasonCleanupBlocked: the app had a capability whose backend is no longer configured.
	ReasonCleanupBlocked = "CleanupBlocked"
	// ReasonSharedKeysRefused: the object store has no per-app users and the platform did not opt in to shared keys.
	ReasonSharedKeysRefused = "SharedKeysRefused"
	// ReasonUserConflict: the object store user of the app's name belongs to someone else.
	ReasonUserConflict = "UserConflict"
	// ReasonProgressDeadlineExceeded: the Deployment's rollout made no progress in time; the message gives the pods' reason.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// ReasonParentNotFound: the PreviewEnvironment's applicationRef names no Application in its namespace.
	ReasonParentNotFound = "ParentNotFound"
	// ReasonNamespaceConflict: the preview's namespace exists and was not made by Plattr for this preview.
	ReasonNamespaceConflict = "NamespaceConflict"
	// ReasonNamespaceTerminating: the preview's namespace is still being deleted (a preview of the same PR was just removed).
	ReasonNamespaceTerminating = "NamespaceTerminating"
	// ReasonCopied: the parent's data is in the preview's schema.
	ReasonCopied = "Copied"
	// ReasonCopyRefused: the platform does not allow this copy (a production parent, or a schema over the size limit).
	ReasonCopyRefused = "CopyRefused"
	// ReasonCopyFailed: copying failed and is retried; the workload waits for it.
	ReasonCopyFailed = "CopyFailed"
	// ReasonLastGoodConfiguration: the capability's backend failed, but the workload keeps the configuration provisioned before.
	ReasonLastGoodConfiguration = "LastGoodConfiguration"
	// ReasonHostConflict: the app's host is the platform's own (API, identity provider, RESERVED_HOSTS) or is served by another Ingress, Gateway listener, HTTPRoute or app first.
	ReasonHostConflict = "HostConflict"
	// ReasonDomainNotAllowed: spec.domain is outside the suffixes the platform allows (ALLOWED_DOMAIN_SUFFIXES, the tenant's spec.domains) or inside the generated app-host zone.
	ReasonDomainNotAllowed = "DomainNotAllowed"
)

// Event reasons, on the Application or PreviewEnvironment.
const (
	EventPhaseChanged     = "PhaseChanged"
	EventRestored         = "Restored"
	EventRotated          = "CredentialsRotated"
	EventCleanupFailed    = "CleanupFailed"
	EventCleanedUp        = "CleanedUp"
	EventReconcileError   = "ReconcileError"
	EventCleanupAbandoned = "CleanupAbandoned"
	EventPasswordRestored = "PasswordRestored"
	EventExpired          = "Expired"
)

// Paths on an app's host.
const (
	// AuthCallbackPath is where the identity provider sends users back to
	// the app; redirect URIs are exact, so apps use AUTH_REDIRECT_URI as given.
	AuthCallbackPath = "/auth/callback"
	// PostgRESTPath is where an app's REST API is served.
	PostgRESTPath = "/api/rest"
)

// Labels every object of an app carries (docs/RESOURCES.md#labels).
const (
	LabelName        = "app.kubernetes.io/name"
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	LabelApp         = "platform.internal/app"
	LabelEnvironment = "platform.internal/environment"
	ManagedByValue   = "plattr"

	// LabelType marks a preview's namespace: TypePreview.
	LabelType   = "platform.internal/type"
	TypePreview = "preview"
	// LabelPR is the pull request number of a preview's objects.
	LabelPR = "platform.internal/pr"
	// LabelPreview names the PreviewEnvironment a preview's objects belong
	// to, and LabelPreviewNamespace its namespace (the parent's).
	LabelPreview          = "platform.internal/preview"
	LabelPreviewNamespace = "platform.internal/preview-namespace"
	// LabelTenant names the Tenant a namespace belongs to; apps in it get
	// tenant-scoped names.
	LabelTenant = "platform.internal/tenant"
	// LabelMonitoring marks a tenant's namespaces for the platform's
	// monitoring (a PodMonitor/ServiceMonitor namespaceSelector).
	LabelMonitoring = "platform.internal/monitoring"
)

// Finalizers: one per capability with external state, added before the
// capability first writes to its backend and removed once its cleanup ran.
const (
	FinalizerDatabase = "platform.internal/database"
	FinalizerStorage  = "platform.internal/storage"
	FinalizerAuth     = "platform.internal/auth"
	// FinalizerTenant: a tenant's namespaces are deleted with it, and it
	// goes once they are gone.
	FinalizerTenant = "platform.internal/tenant"
	// FinalizerNamespace: a preview's namespace is deleted with it.
	FinalizerNamespace = "platform.internal/namespace"
	// FinalizerLegacyCleanup is the single finalizer of earlier versions;
	// the operator replaces it by the capability finalizers.
	FinalizerLegacyCleanup = "platform.internal/cleanup"
)

// Annotations.
const (
	// AnnotationAbandonCleanup set to "true" on an app being deleted skips
	// the external cleanup (schema, buckets, OIDC client) still pending —
	// for a backend that is gone for good. What it leaves behind is named in
	// an Event.
	AnnotationAbandonCleanup = "platform.internal/abandon-cleanup"
	// AnnotationCIDefaultBranch on an Application names its repository's
	// default branch (default main): GitHub Actions jobs on that branch may
	// deploy it to production through the platform API.
	AnnotationCIDefaultBranch = "platform.internal/ci-default-branch"
	// AnnotationCIRepositoryID on an Application pins its repository's
	// numeric GitHub id: a token from a re-created or renamed repository of
	// the same name (another id) gets no rights on the app.
	AnnotationCIRepositoryID = "platform.internal/ci-repository-id"
	// AnnotationConfigHash on the pod template changes when a Secret or
	// ConfigMap the pods read changes, so a credential rotation rolls them.
	AnnotationConfigHash = "platform.internal/config-hash"
	// AnnotationPreviewOwner on a preview's namespace names its
	// PreviewEnvironment as namespace/name/uid: Plattr never takes over a
	// namespace without it.
	AnnotationPreviewOwner = "platform.internal/preview-owner"
	// AnnotationRestartedAt on the pod template is set by the platform
	// API's restart: a new value rolls the pods.
	AnnotationRestartedAt = "platform.internal/restarted-at"
	// AnnotationSharedWith on a Secret lists (comma-separated) the
	// Applications of its namespace whose envVars may read it although it is
	// not theirs (owned by another Application, a token, ...); never honoured
	// on Secrets Plattr manages.
	AnnotationSharedWith = "platform.internal/shared-with"
	// AnnotationCreatedBy on a Tenant is the email of the user who created
	// it through the platform API (its per-user tenant limit counts them).
	AnnotationCreatedBy = "platform.internal/created-by"
)

// Keys of the database Secret <app>-db (docs/RESOURCES.md#what-an-app-is-given).
const (
	KeyDatabaseURL = "DATABASE_URL"
	KeyDBHost      = "DB_HOST"
	KeyDBPort      = "DB_PORT"
	KeyDBName      = "DB_NAME"
	KeyDBUser      = "DB_USER"
	KeyDBPassword  = "DB_PASSWORD"
	KeyDBSchema    = "DB_SCHEMA"
	// KeyDBPostgRESTChannel names the app's PostgREST channel: NOTIFY it
	// with 'reload schema' after a migration.
	KeyDBPostgRESTChannel = "DB_POSTGREST_CHANNEL"
)

// Keys of the storage ConfigMap and Secret <app>-storage. Bucket names go
// under StorageBucketKeyPrefix + the bucket's name in upper case.
const (
	KeyS3Endpoint          = "S3_ENDPOINT"
	KeyS3Region            = "S3_REGION"
	KeyS3ForcePathStyle    = "S3_FORCE_PATH_STYLE"
	KeyAccessKeyID         = "AWS_ACCESS_KEY_ID"
	KeySecretAccessKey     = "AWS_SECRET_ACCESS_KEY"
	StorageBucketKeyPrefix = "S3_BUCKET_"
)

// Keys of the auth ConfigMap and Secret <app>-auth.
const (
	KeyAuthIssuerURL    = "AUTH_ISSUER_URL"
	KeyAuthClientID     = "AUTH_CLIENT_ID"
	KeyAuthRedirectURI  = "AUTH_REDIRECT_URI"
	KeyAuthClientSecret = "AUTH_CLIENT_SECRET"
)

// KeyPort is the variable the app container gets its port in.
const KeyPort = "PORT"

// ReservedEnvVarNames are the names spec.envVars may not use: every key the
// operator writes into the app's environment, plus variables that would
// let an app subvert its runtime. The CRD's CEL rule lists the same names;
// a test keeps the two equal.
var ReservedEnvVarNames = []string{
	KeyDatabaseURL, KeyDBHost, KeyDBPort, KeyDBName, KeyDBUser, KeyDBPassword, KeyDBSchema, KeyDBPostgRESTChannel,
	KeyS3Endpoint, KeyS3Region, KeyS3ForcePathStyle, "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY",
	KeyAccessKeyID, KeySecretAccessKey,
	KeyAuthIssuerURL, KeyAuthClientID, KeyAuthRedirectURI, KeyAuthClientSecret,
	KeyPort, "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",
}

// ReservedEnvVarPrefixes are name prefixes spec.envVars may not use.
var ReservedEnvVarPrefixes = []string{"PGRST_", "PLATTR_", StorageBucketKeyPrefix}
