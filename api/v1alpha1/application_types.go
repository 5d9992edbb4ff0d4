package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Framework is how the app is built; it selects defaults, not behaviour, today.
// +kubebuilder:validation:Enum=nextjs;rails;static;docker
type Framework string

// Environment is the stage an Application runs in. It selects the namespace
// prefix of every generated name, the host, and the default deletion policy.
// +kubebuilder:validation:Enum=staging;uat;production;preview
type Environment string

const (
	EnvironmentStaging    Environment = "staging"
	EnvironmentUAT        Environment = "uat"
	EnvironmentProduction Environment = "production"
	EnvironmentPreview    Environment = "preview"
)

// DeletionPolicy says what happens to an app's data when the app is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionPolicyRetain keeps the data and removes only the ability to log in.
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyDelete removes the data with the app.
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// ApplicationSpec is what an app team asks for.
// +kubebuilder:validation:XValidation:rule="self.environment == oldSelf.environment",message="spec.environment cannot change: every generated name (schema, roles, host) depends on it; create a new Application in the other environment"
// +kubebuilder:validation:XValidation:rule="!has(self.domain) || !self.domain.startsWith('*')",message="domain must be an exact host name; wildcards are not allowed"
// +kubebuilder:validation:XValidation:rule="!has(self.messaging) || !self.messaging.enabled || !has(self.envVars) || self.envVars.all(e, e.name != 'NATS_URL' && e.name != 'NATS_CREDS')",message="spec.envVars: NATS_URL and NATS_CREDS are set by the platform when spec.messaging is enabled; remove them from envVars (or disable messaging to use your own NATS server)"
type ApplicationSpec struct {
	// Repository is the app's source repository, for example
	// github.com/org/app. The platform API gives that GitHub repository's
	// Actions jobs (signed in with their OIDC token) the right to deploy
	// images to this app and to open its previews; name only a repository
	// your team controls. 1 to 512 characters.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Repository string `json:"repository"`

	// Branch the app is built from, for example main. Informational: shown
	// in the API and portal; CI's right to deploy production follows the
	// annotation platform.internal/ci-default-branch, not this field.
	// Default main; at most 255 characters.
	// +kubebuilder:default=main
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Branch string `json:"branch,omitempty"`

	// Framework the app is built with: nextjs, rails, static or docker.
	// Informational today (catalog, portal, plattr init's templates); the
	// workload is the same for every framework.
	Framework Framework `json:"framework"`

	// Environment the app runs in: staging, uat, production or preview. It
	// prefixes every generated name (schema, roles, buckets, host) and sets
	// the default deletion policy (Retain in production, Delete elsewhere).
	// Immutable; in a namespace labelled platform.internal/environment it
	// must match that label.
	Environment Environment `json:"environment"`

	// ImageRef is the container image to run, for example
	// registry.example.com/shop/web@sha256:… or …/web:1.4.2. Without it the
	// workload is not started and the app stays Pending (reason
	// ImageMissing); a change rolls the pods. At most 1024 characters.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	ImageRef string `json:"imageRef,omitempty"`

	// Port the app container listens on; also given to it as PORT. Default
	// 3000; 1 to 65535, except 3001 and 3002 (the PostgREST sidecar's).
	// +kubebuilder:default=3000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:validation:XValidation:rule="self != 3001 && self != 3002",message="ports 3001 and 3002 are taken by the PostgREST sidecar (API and admin); choose another port"
	// +optional
	Port int32 `json:"port,omitempty"`

	// HealthPath is the HTTP path, on Port, that the readiness and liveness
	// probes GET; a 2xx or 3xx answer is healthy. Default /healthz; an
	// absolute path of at most 255 characters.
	// +kubebuilder:default="/healthz"
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`
	// +kubebuilder:validation:MaxLength=255
	// +optional
	HealthPath string `json:"healthPath,omitempty"`

	// StatusPath, when set, is fetched by the platform API every 15 s (with
	// a 10 s timeout) from the app's Service; the JSON it answers is shown
	// as the app's reported status in the API and the portal. Unset: not
	// polled. An absolute path of at most 255 characters, for example
	// /status.
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`
	// +kubebuilder:validation:MaxLength=255
	// +optional
	StatusPath string `json:"statusPath,omitempty"`

	// Domain is a custom host for the app, for example shop.example.com,
	// replacing the one generated under the platform's BASE_DOMAIN. An exact
	// host, no wildcard, at most 253 characters. It must be one of the
	// tenant's spec.domains or a host under one (in a shared namespace: the
	// operator's ALLOWED_DOMAIN_SUFFIXES), and not be routed or claimed
	// first by another app; else IngressReady is False (DomainNotAllowed,
	// HostConflict) and no route is written.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Domain string `json:"domain,omitempty"`

	// EnvVars are set in the app container, after the platform's own; each
	// name at most once. Names the platform sets (DATABASE_URL, S3_*,
	// AUTH_*, PORT, …) and the prefixes PGRST_, PLATTR_ and S3_BUCKET_ are
	// refused. At most 200 entries.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=200
	// +optional
	EnvVars []EnvVar `json:"envVars,omitempty"`

	// CORS adds browser origins, beyond the app's own https://<host>,
	// allowed to call its buckets.
	// +optional
	CORS *CORSSpec `json:"cors,omitempty"`

	// Database gives the app its own PostgreSQL schema and roles, a
	// PostgREST API at /api/rest, and the credentials in Secret <app>-db.
	// Unset: no database.
	// +optional
	Database *DatabaseSpec `json:"database,omitempty"`

	// Storage gives the app S3 buckets with a key of its own: ConfigMap and
	// Secret <app>-storage. Unset: no storage.
	// +optional
	Storage *StorageSpec `json:"storage,omitempty"`

	// Auth gives the app an OIDC client at the platform's identity provider:
	// ConfigMap and Secret <app>-auth. Unset: no client.
	// +optional
	Auth *AuthSpec `json:"auth,omitempty"`

	// Messaging gives the app a NATS user (NatsUser <app>, creds in Secret
	// <app>-nats mounted as a directory; NATS_URL and NATS_CREDS set).
	// Unset: no NATS user.
	// +optional
	Messaging *MessagingSpec `json:"messaging,omitempty"`

	// Scaling bounds the app's HorizontalPodAutoscaler. Default min 2, max
	// 20, targetCPU 70.
	// +kubebuilder:default={min:2,max:20,targetCPU:70}
	// +optional
	Scaling *ScalingSpec `json:"scaling,omitempty"`

	// API puts the app's paths on a shared API hostname (an ApiAggregator,
	// such as public for api.<BASE_DOMAIN>); removing it removes them.
	// +optional
	API *ApplicationAPI `json:"api,omitempty"`

	// Redis is not supported yet: an app with redis.enabled true stays
	// Pending (NotSupported).
	// +optional
	Redis *AddonSpec `json:"redis,omitempty"`

	// Search is not supported yet: an app with search.enabled true stays
	// Pending (NotSupported).
	// +optional
	Search *AddonSpec `json:"search,omitempty"`
}

// EnvVar is one environment variable of the app container.
// +kubebuilder:validation:XValidation:rule="!(has(self.value) && has(self.secretKeyRef))",message="set either value or secretKeyRef, not both"
// +kubebuilder:validation:XValidation:rule="!(self.name in ['DATABASE_URL','DB_HOST','DB_PORT','DB_NAME','DB_USER','DB_PASSWORD','DB_SCHEMA','DB_POSTGREST_CHANNEL','S3_ENDPOINT','S3_REGION','S3_FORCE_PATH_STYLE','S3_ACCESS_KEY_ID','S3_SECRET_ACCESS_KEY','AWS_ACCESS_KEY_ID','AWS_SECRET_ACCESS_KEY','AUTH_ISSUER_URL','AUTH_CLIENT_ID','AUTH_REDIRECT_URI','AUTH_CLIENT_SECRET','PORT','LD_PRELOAD','LD_LIBRARY_PATH','LD_AUDIT'])",message="this name is reserved: the platform sets it; choose another name"
// +kubebuilder:validation:XValidation:rule="!self.name.startsWith('PGRST_') && !self.name.startsWith('PLATTR_') && !self.name.startsWith('S3_BUCKET_')",message="names starting with PGRST_, PLATTR_ or S3_BUCKET_ are reserved for the platform; choose another name"
type EnvVar struct {
	// Name of the variable: letters, digits and '_', not starting with a
	// digit, at most 128 characters; for example LOG_LEVEL.
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`

	// Value of the variable, at most 32768 characters. Set either value or
	// secretKeyRef, not both.
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	Value string `json:"value,omitempty"`

	// SecretKeyRef takes the value from a key of a Secret in the app's
	// namespace; a change of that Secret rolls the pods. Plattr's Secrets of
	// other apps, service-account tokens, Helm release records and
	// cert-manager key pairs are refused (SecretNotAllowed) unless the Secret
	// lists this app in the annotation platform.internal/shared-with.
	// +optional
	SecretKeyRef *SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// SecretKeySelector names one key of a Secret in the same namespace.
type SecretKeySelector struct {
	// Name of the Secret, in the app's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key of the Secret's data whose value the variable gets.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// CORSSpec lists extra origins. Wildcards are refused: an origin is exact.
type CORSSpec struct {
	// Origins are exact browser origins, scheme and host with an optional
	// port, for example https://admin.example.com or http://localhost:5173.
	// No wildcards, paths or upper case; at most 50.
	// +kubebuilder:validation:MaxItems=50
	// +listType=set
	// +kubebuilder:validation:items:Pattern=`^https?://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$`
	// +optional
	Origins []string `json:"origins,omitempty"`
}

// DatabaseSpec asks for a PostgreSQL schema.
// +kubebuilder:validation:XValidation:rule="has(self.schemaName) == has(oldSelf.schemaName) && (!has(self.schemaName) || self.schemaName == oldSelf.schemaName)",message="spec.database.schemaName cannot change once set: the data lives in the old schema; create a new Application to move it"
type DatabaseSpec struct {
	// Enabled provisions the schema, roles, PostgREST sidecar and Secret
	// <app>-db. Turning it off later keeps the schema and its data until the
	// app is deleted. Default false.
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// SchemaName is the app's part of the schema name; the environment
	// prefix is added in front (staging_<schemaName>; a tenant's apps have
	// the tenant after the environment). Defaults to the app's name with '-'
	// turned into '_'. Lowercase letters, digits and '_', starting with a
	// letter, at most 40 characters; cannot change once set.
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=40
	// +optional
	SchemaName string `json:"schemaName,omitempty"`

	// Migrations records where the app's migrations live and which tool
	// runs them. Informational: the app runs its own migrations (then
	// NOTIFY DB_POSTGREST_CHANNEL with 'reload schema'); the operator does
	// not run them.
	// +optional
	Migrations *MigrationsSpec `json:"migrations,omitempty"`

	// DeletionPolicy says what deleting the app does to its schema, roles and
	// buckets: Delete drops them with their data; Retain only revokes the
	// app's login and keys and keeps the data for a platform admin to hand
	// over. Also applies to buckets removed from storage.buckets. Defaults to
	// Retain in production and Delete elsewhere.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// MigrationsSpec says where migrations live and which tool runs them.
type MigrationsSpec struct {
	// Path of the migrations in the repository, for example
	// prisma/migrations; at most 1024 characters.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Path string `json:"path,omitempty"`
	// Engine is the migration tool: prisma, knex or raw (plain SQL files).
	// +kubebuilder:validation:Enum=prisma;knex;raw
	// +optional
	Engine string `json:"engine,omitempty"`
}

// StorageSpec asks for buckets.
type StorageSpec struct {
	// Enabled provisions the buckets, the app's own object-store user and
	// ConfigMap and Secret <app>-storage. Turning it off later keeps the
	// buckets and their data until the app is deleted. Default false.
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// Buckets the app gets, each name at most once, at most 20. Bucket
	// uploads of app web in staging is plattr-staging-web-uploads in the
	// store (a tenant's apps have the tenant after the environment), given
	// to the app as S3_BUCKET_UPLOADS ('-' becomes '_'). A bucket removed from the list is handled by the
	// deletion policy at once (Delete: emptied and deleted; Retain: kept).
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Buckets []BucketSpec `json:"buckets,omitempty"`
}

// BucketSpec is one bucket.
type BucketSpec struct {
	// Name is the app's part of the bucket name, for example uploads:
	// lowercase letters, digits and '-', at most 20 characters.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=20
	Name string `json:"name"`
	// Public buckets are readable anonymously (s3:GetObject by anyone who
	// knows an object's key); turning it off removes that policy. Default
	// false.
	// +kubebuilder:default=false
	// +optional
	Public bool `json:"public,omitempty"`
	// MaxFileSize is the largest object the app expects, for example 10Mi,
	// told to the app in bytes as S3_BUCKET_<NAME>_MAX_FILE_SIZE. S3 cannot
	// cap object sizes by policy: the app enforces it (in its presigned
	// POSTs, for example).
	// +optional
	MaxFileSize *resource.Quantity `json:"maxFileSize,omitempty"`
}

// AuthProvider is an upstream identity provider.
// +kubebuilder:validation:Enum=google;github;saml;oidc
type AuthProvider string

// AuthSpec asks for an OIDC client.
type AuthSpec struct {
	// Enabled creates the OIDC client (a Keycloak realm or a Dex client)
	// with the exact redirect URI https://<host>/auth/callback, and
	// ConfigMap and Secret <app>-auth. Default false.
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// Providers are the upstream identity providers people sign in with:
	// google, github, saml or oidc, each at most once. Their credentials are
	// registered by the platform team in Secret plattr-auth.<namespace>.<app>
	// of the platform namespace; until then AuthReady is False
	// (ProviderCredentialsMissing).
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	// +optional
	Providers []AuthProvider `json:"providers,omitempty"`
}

// ScalingSpec bounds autoscaling.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="scaling.min must be less than or equal to scaling.max"
type ScalingSpec struct {
	// Min is the fewest replicas, and the number a new Deployment starts
	// with. Default 2; 1 to 1000, at most max. With 2 or more a
	// PodDisruptionBudget keeps one pod up during node drains.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Min int32 `json:"min,omitempty"`
	// Max is the most replicas the autoscaler may run. Default 20; 1 to 1000,
	// at least min.
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Max int32 `json:"max,omitempty"`
	// TargetCPU is the average CPU utilisation, in percent of the pods'
	// CPU requests, the autoscaler aims for. Default 70; 1 to 100.
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetCPU int32 `json:"targetCPU,omitempty"`
}

// AddonSpec is a capability that is not built yet.
type AddonSpec struct {
	// Enabled asks for the add-on; not provided yet, so true keeps the app
	// Pending (NotSupported). Default false.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// Phase is the one-word summary of an Application.
// +kubebuilder:validation:Enum=Pending;Provisioning;Running;Failed;Terminating
type Phase string

const (
	PhasePending      Phase = "Pending"
	PhaseProvisioning Phase = "Provisioning"
	PhaseRunning      Phase = "Running"
	PhaseFailed       Phase = "Failed"
	PhaseTerminating  Phase = "Terminating"
)

// ApplicationStatus is what the operator observed.
type ApplicationStatus struct {
	// Phase summarises the app: Pending (waiting for something the spec
	// must give, such as imageRef, or an add-on not provided), Provisioning
	// (work in flight), Running (every condition True at the current
	// generation), Failed (it cannot progress without a change; Ready's
	// reason and message say what) or Terminating (being deleted).
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// URL the app is served at, https://<host>, once its workload is up.
	// +optional
	URL string `json:"url,omitempty"`
	// ObservedGeneration is the metadata.generation this status describes.
	// It is written on every status write, failing ones included (the
	// kstatus convention): equal to metadata.generation means the operator
	// has seen the latest spec; the conditions say how that went.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// FailedAttempts counts consecutive failed reconciles of this generation;
	// the phase turns Failed at 3.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`
	// Conditions are the standard Kubernetes conditions: one per capability
	// (DatabaseReady, StorageReady, AuthReady, DeploymentReady,
	// IngressReady) and Ready, True when all of them are; each reason says
	// why, each message what to do. kubectl wait
	// --for=condition=Ready application/<name> waits for the app.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Application is one app and everything the platform runs for it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=app;apps
// +kubebuilder:printcolumn:name="Framework",type=string,JSONPath=`.spec.framework`
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.spec.environment`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 40",message="metadata.name must start with a letter, contain only lowercase letters, digits and '-', and be at most 40 characters"
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the app's team asks for.
	Spec ApplicationSpec `json:"spec"`
	// Status is what the operator observed; written by the operator only.
	Status ApplicationStatus `json:"status,omitempty"`
}

// ApplicationList is a list of Applications.
// +kubebuilder:object:root=true
type ApplicationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Application `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Application{}, &ApplicationList{})
}

// StatusConditions lets the capabilities set the app's conditions.
func (a *Application) StatusConditions() *[]metav1.Condition { return &a.Status.Conditions }
