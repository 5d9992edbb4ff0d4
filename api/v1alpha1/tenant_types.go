package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TenantQuota sizes a tenant's namespaces.
// +kubebuilder:validation:Enum=small;medium;large
type TenantQuota string

// Quota sizes: requested CPU / memory and pods per namespace.
const (
	TenantQuotaSmall  TenantQuota = "small"  // 2 CPU, 4 GiB, 20 pods
	TenantQuotaMedium TenantQuota = "medium" // 8 CPU, 16 GiB, 60 pods
	TenantQuotaLarge  TenantQuota = "large"  // 32 CPU, 64 GiB, 200 pods
)

// TenantRole is a member's role in the tenant's environments.
// +kubebuilder:validation:Enum=Admin;User
type TenantRole string

// Tenant roles.
const (
	TenantAdmin TenantRole = "Admin"
	TenantUser  TenantRole = "User"
)

// TenantMember is one person of the team.
type TenantMember struct {
	// Email is how the identity provider names the person, for example
	// ada@example.com: the user their RoleBindings name. At most 254
	// characters.
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	Email string `json:"email"`
	// Role: Admin manages the team's apps and members (Kubernetes' admin
	// role in each namespace); User deploys and operates apps (edit).
	Role TenantRole `json:"role"`
}

// TenantSpec asks for a team's self-service space: a namespace per
// environment, guarded by a quota, limits and a network policy, with RBAC
// for the team and monitoring labels.
// +kubebuilder:validation:XValidation:rule="self.environments.all(e, self.environments.exists_one(f, f == e))",message="spec.environments lists an environment twice: list each once"
type TenantSpec struct {
	// DisplayName is the team's name as people write it, for example
	// "Payments Team"; at most 100 characters.
	// +kubebuilder:validation:MaxLength=100
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// Members of the team, each email at most once, at most 200. Each gets
	// a RoleBinding in every namespace of the tenant.
	// +listType=map
	// +listMapKey=email
	// +kubebuilder:validation:MaxItems=200
	// +optional
	Members []TenantMember `json:"members,omitempty"`

	// Environments the tenant gets a namespace for: <tenant>-<environment>.
	// staging, uat or production, each once; default staging and
	// production. Removing one deletes its namespace and the apps in it.
	// +kubebuilder:default={staging,production}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=3
	// +kubebuilder:validation:items:Enum=staging;uat;production
	// +optional
	Environments []Environment `json:"environments,omitempty"`

	// Quota sizes each namespace's ResourceQuota: small (2 CPU, 4 GiB
	// requested, 20 pods; the default), medium (8, 16 GiB, 60) or large
	// (32, 64 GiB, 200).
	// +kubebuilder:default=small
	// +optional
	Quota TenantQuota `json:"quota,omitempty"`

	// Domains are the suffixes the tenant's apps may use as spec.domain
	// (an app in the tenant's namespaces may claim example.com or any
	// host under it). Set by the platform team: the platform API never
	// writes them. Hosts under a tenant's suffix are that tenant's alone.
	// Exact DNS names, no wildcard; at most 20.
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Domains []string `json:"domains,omitempty"`
}

// ReservedTenantNames cannot name a Tenant: an environment's name as a
// tenant would give its apps the hosts (<app>.<tenant>.<BASE_DOMAIN>) and
// namespaces of the shared environments, and "cluster" is the platform's
// own. The CRD's CEL rule lists the same names; a test keeps them equal.
var ReservedTenantNames = []string{"staging", "uat", "production", "preview", "cluster"}

// TenantStatus is what the operator observed.
type TenantStatus struct {
	// Phase is Provisioning, Running (every namespace ready) or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// Namespaces the tenant has, by environment.
	// +optional
	Namespaces []TenantNamespace `json:"namespaces,omitempty"`
	// ObservedGeneration is the metadata.generation this status describes.
	// It is written on every status write, failing ones included (the
	// kstatus convention): equal to metadata.generation means the operator
	// has seen the latest spec; the conditions say how that went.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are the standard Kubernetes conditions: NamespaceReady
	// (every namespace exists with its quota, limits, network policy and
	// RoleBindings) and Ready.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// TenantNamespace is one of a tenant's namespaces.
type TenantNamespace struct {
	// Environment of the namespace: staging, uat or production.
	Environment Environment `json:"environment"`
	// Name of the namespace, <tenant>-<environment>.
	Name string `json:"name"`
}

// Tenant is a team's self-service space on the platform.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=tenant;tenants
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$')",message="metadata.name must be a lowercase DNS label of at most 30 characters, starting with a letter (it prefixes the tenant's namespaces and every name its apps get)"
// +kubebuilder:validation:XValidation:rule="!(self.metadata.name in ['staging','uat','production','preview','cluster'])",message="metadata.name is reserved: staging, uat, production and preview are environments (their hosts and namespaces would collide with the tenant's) and cluster is the platform's; choose another name"
// +kubebuilder:printcolumn:name="Team",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Quota",type=string,JSONPath=`.spec.quota`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Tenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the team: members, environments, quota and domains.
	Spec TenantSpec `json:"spec"`
	// Status is what the operator observed; written by the operator only.
	Status TenantStatus `json:"status,omitempty"`
}

// TenantList is a list of Tenants.
// +kubebuilder:object:root=true
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Tenant{}, &TenantList{})
}

// StatusConditions lets shared helpers set the tenant's conditions.
func (t *Tenant) StatusConditions() *[]metav1.Condition { return &t.Status.Conditions }

// NamespaceFor is the tenant's namespace of an environment.
func (t *Tenant) NamespaceFor(env Environment) string { return t.Name + "-" + string(env) }
