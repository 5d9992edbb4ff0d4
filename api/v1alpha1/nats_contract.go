package v1alpha1

// Conditions of NatsAccount and NatsUser, and of an Application's
// messaging.
const (
	// ConditionPushed: the account JWT was pushed and the server's resolver
	// answered code 200.
	ConditionPushed = "Pushed"
	// ConditionCredentialsIssued: the Secret holds a valid signed JWT for
	// the user's kept key.
	ConditionCredentialsIssued = "CredentialsIssued"
	// ConditionExpiring: True while the JWT is inside renewBefore of its
	// expiry and could not be re-signed.
	ConditionExpiring = "Expiring"
	// ConditionRevoked: the old key of a rotation or deletion is in the
	// account's revocations on the server.
	ConditionRevoked = "Revoked"
	// ConditionMessagingReady: the app's NatsUser has its credentials
	// (True/Disabled when spec.messaging is not asked for).
	ConditionMessagingReady = "MessagingReady"
)

// Reasons of the NATS conditions.
const (
	// ReasonAccountNotFound: the account named is not in the platform
	// namespace, or not pushed yet.
	ReasonAccountNotFound = "AccountNotFound"
	// ReasonNotHonoured: a NatsAccount outside the platform namespace.
	ReasonNotHonoured = "NotHonoured"
	// ReasonPushRefused: the server refused the account JWT.
	ReasonPushRefused = "PushRefused"
	// ReasonIssued: the credentials are in the Secret.
	ReasonIssued = "Issued"
	// ReasonRenewDue: the JWT is inside renewBefore of its expiry.
	ReasonRenewDue = "RenewDue"
	// ReasonValid: the JWT is not near its expiry.
	ReasonValid = "Valid"
	// ReasonRevoked: the old key is revoked on the server.
	ReasonRevoked = "KeyRevoked"
	// ReasonMessagingNotConfigured: the operator has no NATS server.
	ReasonMessagingNotConfigured = "MessagingNotConfigured"
)

// NATS finalizers, labels and keys.
const (
	// FinalizerNatsUser: the user's key is revoked (deletionPolicy Revoke)
	// before the NatsUser goes.
	FinalizerNatsUser = "platform.internal/nats-user"
	// FinalizerNatsAccount keeps an account while users still use it.
	FinalizerNatsAccount = "platform.internal/nats-account"
	// FinalizerMessaging: an app's NatsUser revokes its key before the app
	// goes.
	FinalizerMessaging = "platform.internal/messaging"
	// KeyNatsURL and KeyNatsCreds are the app container's NATS variables.
	KeyNatsURL   = "NATS_URL"
	KeyNatsCreds = "NATS_CREDS"
	// NatsCredsMountPath is where the app's creds Secret is mounted (a
	// directory, no subPath: a rotation reaches running pods).
	NatsCredsMountPath = "/var/run/secrets/plattr/nats"
	// NatsCredsKey is the key of the .creds file in a NatsUser's Secret.
	NatsCredsKey = "user.creds"
	// AnnotationNatsOwner marks a Secret as a NatsUser's: the object's UID.
	AnnotationNatsOwner = "platform.internal/nats-owner-uid"
	// AnnotationNatsRotation is the spec.rotation the Secret's key was
	// made for.
	AnnotationNatsRotation = "platform.internal/nats-rotation"
	// AnnotationNatsReplaced is the public key the Secret's key replaced
	// (revoked before this one was stored).
	AnnotationNatsReplaced = "platform.internal/nats-replaced-key"
)
