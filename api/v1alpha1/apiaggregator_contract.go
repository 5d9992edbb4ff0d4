package v1alpha1

// The contract of API aggregation (ApiAggregator, ApiAggregatorTarget,
// Application.spec.api): condition types, reasons and labels the operator,
// the API server, the portal and the CLI read.

// Condition types of ApiAggregator and ApiAggregatorTarget (Gateway API's
// own names where it has one), and the Application's ApiReady.
const (
	// ConditionProgrammed: copied from the Gateway (aggregator) or the
	// HTTPRoutes' status.parents (target); never set True by Plattr alone.
	ConditionProgrammed = "Programmed"
	// ConditionConflicted: True when any of the target's paths is owned by
	// another target (or reserved).
	ConditionConflicted = "Conflicted"
	// ConditionResolvedRefs: every route's Service exists and may be used.
	ConditionResolvedRefs = "ResolvedRefs"
	// ConditionApiReady: an Application's spec.api target is Accepted with
	// ResolvedRefs and at least one Active path (True/Disabled when the
	// app did not ask for spec.api).
	ConditionApiReady = "ApiReady"
)

// Reasons of the aggregation conditions.
const (
	// ReasonAggregatorNotFound: spec.aggregatorRef names no ApiAggregator
	// in the platform namespace, or one that is not Accepted.
	ReasonAggregatorNotFound = "AggregatorNotFound"
	// ReasonInvalidPath: a path cannot be served (see the message).
	ReasonInvalidPath = "InvalidPath"
	// ReasonBackendNotFound: a route's Service (or its port) does not
	// exist.
	ReasonBackendNotFound = "BackendNotFound"
	// ReasonBackendNotAllowed: a route's Service is ExternalName or has no
	// selector (its endpoints could point anywhere).
	ReasonBackendNotAllowed = "BackendNotAllowed"
	// ReasonPathConflict: Conflicted=True, some path is owned by another.
	ReasonPathConflict = "PathConflict"
	// ReasonNoConflict: Conflicted=False.
	ReasonNoConflict = "NoConflict"
	// ReasonAccepted / ReasonResolvedRefs / ReasonProgrammed: the True
	// reasons, as Gateway API writes them.
	ReasonAccepted     = "Accepted"
	ReasonResolvedRefs = "ResolvedRefs"
	ReasonProgrammed   = "Programmed"
	// ReasonPending: the data plane has not reported yet.
	ReasonPending = "Pending"
	// ReasonHostnameConflict: an older ApiAggregator has the hostname.
	ReasonHostnameConflict = "HostnameConflict"
	// ReasonNotInPlatformNamespace: aggregators are honoured only in the
	// platform namespace.
	ReasonNotInPlatformNamespace = "NotInPlatformNamespace"
	// ReasonNoActivePath: the target has no path it may serve.
	ReasonNoActivePath = "NoActivePath"
)

// Labels of aggregation.
const (
	// LabelAggregatorPrefix + <aggregator> = "true" is set by Plattr only,
	// on the namespaces that have an accepted target of that aggregator:
	// the Gateway's allowedRoutes selects on it (never From: All).
	LabelAggregatorPrefix = "aggregator.platform.internal/"
	// LabelApiTarget names, on an HTTPRoute, the target it renders.
	LabelApiTarget = "platform.internal/api-target"
	// LabelApiAggregator names, on a Gateway or HTTPRoute, its aggregator.
	LabelApiAggregator = "platform.internal/api-aggregator"
)

// ReservedPreviewPrefix is reserved on every aggregator: only a preview's
// target (namespace preview-<app>-pr-<N>) may claim paths under
// /preview/<app>/pr-<N>/.
const ReservedPreviewPrefix = "/preview"

// LabelAggregator is the namespace label of aggregator name.
func LabelAggregator(name string) string { return LabelAggregatorPrefix + name }
