package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NatsProvider runs a NatsAccount's server side.
// +kubebuilder:validation:Enum=local
type NatsProvider string

// NatsProviderLocal: Plattr holds the operator signing key and a
// system-account user, and pushes account JWTs to the server's resolver.
const NatsProviderLocal NatsProvider = "local"

// NatsAccountSpec asks for a NATS account on the operator's server, and
// says which namespaces may create users on it and with which subjects.
type NatsAccountSpec struct {
	// Provider runs the account: local (the default) — the operator's own
	// NATS server in decentralized JWT mode, the account JWT pushed to its
	// resolver.
	// +kubebuilder:default=local
	// +optional
	Provider NatsProvider `json:"provider,omitempty"`
	// NamespaceSelector selects the namespaces whose NatsUsers may use the
	// account. Empty ({}) selects every namespace; left out, none.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// SharedSubjects are subjects (wildcards allowed) any selected
	// namespace's users may be granted besides their own <namespace>.>,
	// for example events.public.>. At most 50; never _INBOX.> or >.
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=200
	// +kubebuilder:validation:items:Pattern=`^[^\s]+$`
	// +kubebuilder:validation:XValidation:rule="self.all(s, s != '>' && !s.startsWith('_INBOX.') && s != '_INBOX.>')",message="spec.sharedSubjects may not list > or _INBOX.: one team would read every team's traffic or replies; list the subjects teams share"
	// +optional
	SharedSubjects []string `json:"sharedSubjects,omitempty"`
}

// NatsAccountStatus is what the operator observed.
type NatsAccountStatus struct {
	// Phase is Provisioning, Running (pushed and accepted) or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// AccountPublicKey is the account's public nkey (A…): its id on the
	// server. The key is made once and kept.
	// +optional
	AccountPublicKey string `json:"accountPublicKey,omitempty"`
	// ClaimsHash is the SHA-256 of the account claims last pushed, without
	// iat and jti: equal means the server has what the spec asks for.
	// +optional
	ClaimsHash string `json:"claimsHash,omitempty"`
	// ObservedGeneration is the metadata.generation this status describes,
	// written on every status write.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Pushed (the server's resolver answered code 200, or its
	// message when it refused), Ready, and the kstatus Reconciling and
	// Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NatsAccount is a NATS account, honoured only in the platform namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=natsaccount
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.status.accountPublicKey`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NatsAccount struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the account: its provider, who may use it and what they share.
	Spec NatsAccountSpec `json:"spec"`
	// Status is what the operator observed; written by the operator only.
	Status NatsAccountStatus `json:"status,omitempty"`
}

// NatsAccountList is a list of NatsAccounts.
// +kubebuilder:object:root=true
type NatsAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NatsAccount `json:"items"`
}

// NatsSubjects allows and denies subjects.
type NatsSubjects struct {
	// Allow lists the subjects (wildcards * and > allowed) permitted. Left
	// empty, the namespace's own <namespace>.> — never everything. Each
	// must lie in the account's subject space for the namespace.
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=200
	// +kubebuilder:validation:items:Pattern=`^[^\s]+$`
	// +optional
	Allow []string `json:"allow,omitempty"`
	// Deny lists subjects refused even when Allow covers them.
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=200
	// +kubebuilder:validation:items:Pattern=`^[^\s]+$`
	// +optional
	Deny []string `json:"deny,omitempty"`
}

// NatsResponsePermission lets a user reply to requests it received.
type NatsResponsePermission struct {
	// Max is how many replies a request may get (default 1).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=1
	// +optional
	Max int32 `json:"max,omitempty"`
	// TTL is how long after the request replies are allowed, for example
	// 5s (default 0: no limit).
	// +optional
	TTL *metav1.Duration `json:"ttl,omitempty"`
}

// NatsPermissions are a user's subjects.
type NatsPermissions struct {
	// Pub: the subjects the user may publish to.
	// +optional
	Pub NatsSubjects `json:"pub,omitempty"`
	// Sub: the subjects the user may subscribe to. The namespace's inbox
	// prefix _INBOX_<namespace>.> is always added (nats.go's
	// CustomInboxPrefix), never _INBOX.>.
	// +optional
	Sub NatsSubjects `json:"sub,omitempty"`
	// Resp, when set, lets the user reply to the requests it receives
	// without a publish permission on its requesters' inboxes.
	// +optional
	Resp *NatsResponsePermission `json:"resp,omitempty"`
}

// NatsLimits bound what one connection of the user may use; 0 or left out
// is no limit.
type NatsLimits struct {
	// Subs is the most subscriptions at once.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Subs int64 `json:"subs,omitempty"`
	// Payload is the largest message, in bytes.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Payload int64 `json:"payload,omitempty"`
	// Data is the most bytes the connection may send, in bytes.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Data int64 `json:"data,omitempty"`
}

// NatsDeletionPolicy says what deleting a NatsUser does to its key.
// +kubebuilder:validation:Enum=Revoke;Orphan
type NatsDeletionPolicy string

// NatsUser deletion policies.
const (
	// NatsDeletionRevoke adds the key to the account's revocations (pushed,
	// code 200) before the user goes: its creds stop working.
	NatsDeletionRevoke NatsDeletionPolicy = "Revoke"
	// NatsDeletionOrphan leaves the creds working until they expire.
	NatsDeletionOrphan NatsDeletionPolicy = "Orphan"
)

// LocalObjectName names an object in the same namespace.
type LocalObjectName struct {
	// Name of the object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// NatsUserSpec asks for a NATS user on an account, and its credentials in
// a Secret.
type NatsUserSpec struct {
	// AccountRef names the NatsAccount, in the platform namespace.
	AccountRef LocalObjectName `json:"accountRef"`
	// Permissions are the subjects the user may publish and subscribe to.
	// +optional
	Permissions NatsPermissions `json:"permissions,omitempty"`
	// Limits bound each connection.
	// +optional
	Limits NatsLimits `json:"limits,omitempty"`
	// AllowedConnectionTypes restricts how the user connects: STANDARD,
	// WEBSOCKET, LEAFNODE, MQTT; left out, any.
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:items:Enum=STANDARD;WEBSOCKET;LEAFNODE;MQTT
	// +optional
	AllowedConnectionTypes []string `json:"allowedConnectionTypes,omitempty"`
	// ExpiresIn is how long a signed JWT is valid, for example 720h
	// (default 2160h, 90 days); at least 1h.
	// +kubebuilder:default="2160h"
	// +optional
	ExpiresIn *metav1.Duration `json:"expiresIn,omitempty"`
	// RenewBefore is how long before it expires a JWT is re-signed (same
	// key), for example 168h (default 360h, 15 days). Less than expiresIn.
	// +kubebuilder:default="360h"
	// +optional
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
	// CredentialsSecret is the Secret, in this namespace, holding the .creds
	// file under key user.creds. The Secret is Plattr's: one it did not
	// make is never overwritten.
	CredentialsSecret LocalObjectName `json:"credentialsSecret"`
	// Rotation: changing its value (any string, for example a date) makes a
	// new key; the old one is revoked first.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Rotation string `json:"rotation,omitempty"`
	// DeletionPolicy: Revoke (the default) revokes the key before the user
	// goes; Orphan leaves the creds working until they expire.
	// +kubebuilder:default=Revoke
	// +optional
	DeletionPolicy NatsDeletionPolicy `json:"deletionPolicy,omitempty"`
}

// NatsUserStatus is what the operator observed.
type NatsUserStatus struct {
	// Phase is Provisioning, Running (credentials issued) or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// UserPublicKey is the user's public nkey (U…). It changes only on a
	// rotation.
	// +optional
	UserPublicKey string `json:"userPublicKey,omitempty"`
	// ClaimsHash is the SHA-256 of the user's claims without iat, jti and
	// exp: it changes only when what the user may do changes.
	// +optional
	ClaimsHash string `json:"claimsHash,omitempty"`
	// IssuedAt is when the JWT in the Secret was signed.
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`
	// ExpiresAt is when it expires.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// Subjects are the subjects granted, as the server enforces them.
	// +optional
	Subjects *NatsGranted `json:"subjects,omitempty"`
	// ObservedGeneration is the metadata.generation this status describes,
	// written on every status write.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Accepted (False NotAllowed names the namespace or the
	// subject outside the account's space), CredentialsIssued, Expiring,
	// Revoked, Ready, and the kstatus Reconciling and Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NatsGranted are the subjects a user's JWT grants.
type NatsGranted struct {
	// Publish: the subjects it may publish to.
	// +optional
	Publish []string `json:"publish,omitempty"`
	// Subscribe: the subjects it may subscribe to, its inbox prefix
	// included.
	// +optional
	Subscribe []string `json:"subscribe,omitempty"`
	// InboxPrefix is the prefix its request inboxes must use
	// (nats.CustomInboxPrefix).
	// +optional
	InboxPrefix string `json:"inboxPrefix,omitempty"`
}

// NatsUser is a NATS user with credentials created once and kept.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=natsuser
// +kubebuilder:validation:XValidation:rule="!has(self.spec.expiresIn) || duration(self.spec.expiresIn) >= duration('1h')",message="spec.expiresIn must be at least 1h"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.expiresIn) || !has(self.spec.renewBefore) || duration(self.spec.renewBefore) < duration(self.spec.expiresIn)",message="spec.renewBefore must be shorter than spec.expiresIn, or every reconcile would re-sign"
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.spec.accountRef.name`
// +kubebuilder:printcolumn:name="User",type=string,JSONPath=`.status.userPublicKey`
// +kubebuilder:printcolumn:name="Expires",type=date,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
type NatsUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the user: account, permissions, limits, lifetime, Secret.
	Spec NatsUserSpec `json:"spec"`
	// Status is what the operator observed; written by the operator only.
	Status NatsUserStatus `json:"status,omitempty"`
}

// NatsUserList is a list of NatsUsers.
// +kubebuilder:object:root=true
type NatsUserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NatsUser `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NatsAccount{}, &NatsAccountList{}, &NatsUser{}, &NatsUserList{})
}

// StatusConditions lets shared helpers set the account's conditions.
func (a *NatsAccount) StatusConditions() *[]metav1.Condition { return &a.Status.Conditions }

// CommonStatus points into the account's status; it counts no attempts.
func (a *NatsAccount) CommonStatus() CommonStatus {
	s := &a.Status
	return CommonStatus{Phase: &s.Phase, ObservedGeneration: &s.ObservedGeneration, Conditions: &s.Conditions}
}

// StatusConditions lets shared helpers set the user's conditions.
func (u *NatsUser) StatusConditions() *[]metav1.Condition { return &u.Status.Conditions }

// CommonStatus points into the user's status; it counts no attempts.
func (u *NatsUser) CommonStatus() CommonStatus {
	s := &u.Status
	return CommonStatus{Phase: &s.Phase, ObservedGeneration: &s.ObservedGeneration, Conditions: &s.Conditions}
}

// MessagingSpec asks for the app's own NATS user.
type MessagingSpec struct {
	// Enabled creates the app's NatsUser; false revokes and removes it.
	Enabled bool `json:"enabled"`
	// Account is the NatsAccount, in the platform namespace (default
	// default).
	// +kubebuilder:default=default
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Account string `json:"account,omitempty"`
	// Publish lists the subjects the app may publish to; left empty, its
	// namespace's own <namespace>.>.
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=200
	// +optional
	Publish []string `json:"publish,omitempty"`
	// Subscribe lists the subjects the app may subscribe to; left empty,
	// <namespace>.>. Its inbox prefix _INBOX_<namespace> is always added.
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=200
	// +optional
	Subscribe []string `json:"subscribe,omitempty"`
}

// MessagingEnabled reports whether the app asks for a NATS user.
func (s *ApplicationSpec) MessagingEnabled() bool { return s.Messaging != nil && s.Messaging.Enabled }
