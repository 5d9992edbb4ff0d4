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
type ApplicationSpec struct {
	// Repository is the app's source repository, for example github.com/org/app.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Repository string `json:"repository"`

	// Branch the app is built from.
	// +kubebuilder:default=main
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Branch string `json:"branch,omitempty"`

	// Framework of the app.
	Framework Framework `json:"framework"`

	// Environment the app runs in.
	Environment Environment `json:"environment"`

	// ImageRef is the container image to run. Without it the workload is not
	// started and the app stays Pending.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	ImageRef string `json:"imageRef,omitempty"`

	// Port the app listens on.
	// +kubebuilder:default=3000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:validation:XValidation:rule="self != 3001 && self != 3002",message="ports 3001 and 3002 are taken by the PostgREST sidecar (API and admin); choose another port"
	// +optional
	Port int32 `json:"port,omitempty"`

	// HealthPath is probed for readiness and liveness.
	// +kubebuilder:default="/healthz"
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`
	// +kubebuilder:validation:MaxLength=255
	// +optional
	HealthPath string `json:"healthPath,omitempty"`

	// StatusPath, when set, is fetched by the platform API every 15 s (with
	// a 10 s timeout) from the app's Service; the JSON it answers is shown
	// as the app's reported status in the API and the portal.
	// +kubebuilder:validation:Pattern=`^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$`
	// +kubebuilder:validation:MaxLength=255
	// +optional
	StatusPath string `json:"statusPath,omitempty"`

	// Domain is a custom host for the app, replacing the generated one.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Domain string `json:"domain,omitempty"`

	// EnvVars are set in the app container, after the platform's own.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=200
	// +optional
	EnvVars []EnvVar `json:"envVars,omitempty"`

	// CORS adds origins, beyond the app's own, allowed to call its buckets.
	// +optional
	CORS *CORSSpec `json:"cors,omitempty"`

	// Database gives the app its own PostgreSQL schema and roles.
	// +optional
	Database *DatabaseSpec `json:"database,omitempty"`

	// Storage gives the app object-storage buckets.
	// +optional
	Storage *StorageSpec `json:"storage,omitempty"`

	// Auth gives the app an OIDC client.
	// +optional
	Auth *AuthSpec `json:"auth,omitempty"`

	// Scaling bounds the app's horizontal autoscaling.
	// +kubebuilder:default={min:2,max:20,targetCPU:70}
	// +optional
	Scaling *ScalingSpec `json:"scaling,omitempty"`

	// Redis is not supported yet.
	// +optional
	Redis *AddonSpec `json:"redis,omitempty"`

	// Search is not supported yet.
	// +optional
	Search *AddonSpec `json:"search,omitempty"`
}

// EnvVar is one environment variable of the app container.
// +kubebuilder:validation:XValidation:rule="!(has(self.value) && has(self.secretKeyRef))",message="set either value or secretKeyRef, not both"
// +kubebuilder:validation:XValidation:rule="!(self.name in ['DATABASE_URL','DB_HOST','DB_PORT','DB_NAME','DB_USER','DB_PASSWORD','DB_SCHEMA','DB_POSTGREST_CHANNEL','S3_ENDPOINT','S3_REGION','S3_FORCE_PATH_STYLE','S3_ACCESS_KEY_ID','S3_SECRET_ACCESS_KEY','AWS_ACCESS_KEY_ID','AWS_SECRET_ACCESS_KEY','AUTH_ISSUER_URL','AUTH_CLIENT_ID','AUTH_REDIRECT_URI','AUTH_CLIENT_SECRET','PORT','LD_PRELOAD','LD_LIBRARY_PATH','LD_AUDIT'])",message="this name is reserved: the platform sets it; choose another name"
// +kubebuilder:validation:XValidation:rule="!self.name.startsWith('PGRST_') && !self.name.startsWith('PLATTR_') && !self.name.startsWith('S3_BUCKET_')",message="names starting with PGRST_, PLATTR_ or S3_BUCKET_ are reserved for the platform; choose another name"
type EnvVar struct {
	// Name of the variable.
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`

	// Value of the variable.
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	Value string `json:"value,omitempty"`

	// SecretKeyRef takes the value from a key of a Secret in the app's namespace.
	// +optional
	SecretKeyRef *SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// SecretKeySelector names one key of a Secret in the same namespace.
type SecretKeySelector struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// CORSSpec lists extra origins. Wildcards are refused: an origin is exact.
type CORSSpec struct {
	// +kubebuilder:validation:MaxItems=50
	// +listType=set
	// +kubebuilder:validation:items:Pattern=`^https?://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$`
	// +optional
	Origins []string `json:"origins,omitempty"`
}

// DatabaseSpec asks for a PostgreSQL schema.
// +kubebuilder:validation:XValidation:rule="has(self.schemaName) == has(oldSelf.schemaName) && (!has(self.schemaName) || self.schemaName == oldSelf.schemaName)",message="spec.database.schemaName cannot change once set: the data lives in the old schema; create a new Application to move it"
type DatabaseSpec struct {
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// SchemaName is the app's part of the schema name; the environment prefix is
	// added in front. Defaults to the app's name with '-' turned into '_'.
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=40
	// +optional
	SchemaName string `json:"schemaName,omitempty"`

	// Migrations describes how the app's schema is migrated.
	// +optional
	Migrations *MigrationsSpec `json:"migrations,omitempty"`

	// DeletionPolicy defaults to Retain in production and Delete elsewhere.
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// MigrationsSpec says where migrations live and which tool runs them.
type MigrationsSpec struct {
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Path string `json:"path,omitempty"`
	// +kubebuilder:validation:Enum=prisma;knex;raw
	// +optional
	Engine string `json:"engine,omitempty"`
}

// StorageSpec asks for buckets.
type StorageSpec struct {
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Buckets []BucketSpec `json:"buckets,omitempty"`
}

// BucketSpec is one bucket.
type BucketSpec struct {
	// Name is the app's part of the bucket name.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=20
	Name string `json:"name"`
	// Public buckets are readable anonymously.
	// +kubebuilder:default=false
	// +optional
	Public bool `json:"public,omitempty"`
	// MaxFileSize is the largest object the app expects, for example 10Mi.
	// +optional
	MaxFileSize *resource.Quantity `json:"maxFileSize,omitempty"`
}

// AuthProvider is an upstream identity provider.
// +kubebuilder:validation:Enum=google;github;saml;oidc
type AuthProvider string

// AuthSpec asks for an OIDC client.
type AuthSpec struct {
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	// +optional
	Providers []AuthProvider `json:"providers,omitempty"`
}

// ScalingSpec bounds autoscaling.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",message="scaling.min must be less than or equal to scaling.max"
type ScalingSpec struct {
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Min int32 `json:"min,omitempty"`
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Max int32 `json:"max,omitempty"`
	// TargetCPU is the average CPU utilisation, in percent, the autoscaler aims for.
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetCPU int32 `json:"targetCPU,omitempty"`
}

// AddonSpec is a capability that is not built yet.
type AddonSpec struct {
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
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// URL the app is served at.
	// +optional
	URL string `json:"url,omitempty"`
	// ObservedGeneration is the generation last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// FailedAttempts counts consecutive failed reconciles of this generation;
	// the phase turns Failed at 3.
	// +optional
	FailedAttempts int32 `json:"failedAttempts,omitempty"`
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

	Spec   ApplicationSpec   `json:"spec"`
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
