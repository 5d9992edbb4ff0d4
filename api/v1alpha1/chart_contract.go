package v1alpha1

// The chart kinds' share of the contract (ChartSource, ChartVersion,
// ChartRelease): what the operator writes and the CLI, API and portal read.

// Condition types of a ChartRelease, beside Ready and the kstatus ones.
const (
	// ConditionInputsValid: spec.inputs fit the chart version's values UI
	// schema and every Secret they reference exists.
	ConditionInputsValid = "InputsValid"
	// ConditionReleased: the Helm release is deployed at the wanted chart
	// digest and values digest.
	ConditionReleased = "Released"
	// ConditionRemediated: a failed or interrupted operation was undone
	// (a pending-* release unlocked, a failed upgrade rolled back).
	ConditionRemediated = "Remediated"
)

// ChartReleaseConditionTypes lists a ChartRelease's conditions in order.
var ChartReleaseConditionTypes = []string{ConditionInputsValid, ConditionReleased, ConditionRemediated, ConditionReady}

// Reasons of the chart kinds' conditions.
const (
	// ReasonScanned: the source was scanned.
	ReasonScanned = "Scanned"
	// ReasonScanFailed: the registry or repository refused or failed a
	// request (the message names it).
	ReasonScanFailed = "ScanFailed"
	// ReasonCredentialsMissing: spec.secretRef names a Secret that does
	// not exist or lacks username/password.
	ReasonCredentialsMissing = "CredentialsMissing"
	// ReasonChartNotFound: no ChartVersion matches spec.chart.
	ReasonChartNotFound = "ChartNotFound"
	// ReasonChartInvalid: the chart version has an extension parse error
	// or is over the size cap; it cannot be installed.
	ReasonChartInvalid = "ChartInvalid"
	// ReasonInputsInvalid: an input is missing, unknown, of the wrong type
	// or out of range (the message names it).
	ReasonInputsInvalid = "InputsInvalid"
	// ReasonInstalled, ReasonUpgraded, ReasonRolledBack, ReasonUpToDate:
	// what the last Helm operation did, or that none was needed.
	ReasonInstalled  = "Installed"
	ReasonUpgraded   = "Upgraded"
	ReasonRolledBack = "RolledBack"
	ReasonUpToDate   = "UpToDate"
	// ReasonHelmFailed: a Helm operation failed (the message has Helm's
	// error).
	ReasonHelmFailed = "HelmFailed"
	// ReasonObjectRefused: the chart renders a cluster-scoped object or one
	// in another namespace and its source is not trusted (the message names
	// the object), or a trusted source's selector does not allow the
	// namespace.
	ReasonObjectRefused = "ObjectRefused"
	// ReasonCardinality: the chart is OnePerCluster and another release of
	// it exists in the cluster.
	ReasonCardinality = "CardinalityExceeded"
	// ReasonUnlocked: a release left pending-* by an interrupted operation
	// was unlocked.
	ReasonUnlocked = "Unlocked"
	// ReasonNothingToRemediate: no failed operation to undo.
	ReasonNothingToRemediate = "NothingToRemediate"
	// ReasonUninstalled: spec.enabled is false and the release is gone.
	ReasonUninstalled = "Uninstalled"
	// ReasonHostInvalid: the injected ingress's host is not one the
	// release's namespace may use.
	ReasonHostInvalid = "HostInvalid"
)

// Labels and annotations of the chart kinds.
const (
	// LabelChartSource names a ChartVersion's ChartSource.
	LabelChartSource = "platform.internal/chart-source"
	// LabelChart is a ChartVersion's chart name.
	LabelChart = "platform.internal/chart"
	// LabelChartRepository is a hash of a ChartVersion's repository (a
	// repository path is no label value), for listing one repository's
	// versions.
	LabelChartRepository = "platform.internal/chart-repository"
	// AnnotationScanRequestedAt on a ChartSource, set to any new value,
	// scans it at once (plattr chart scan, the portal's button).
	AnnotationScanRequestedAt = "platform.internal/scan-requested-at"
	// FinalizerChartRelease: the Helm release is uninstalled before the
	// ChartRelease goes.
	FinalizerChartRelease = "platform.internal/helm-release"
	// ReleaseServiceAccount is the ServiceAccount, in a release's
	// namespace, that its Helm operations run as (the operator may
	// impersonate only ServiceAccounts of this name).
	ReleaseServiceAccount = "plattr-release"
	// HelmConfigMediaType is the OCI config media type of a Helm chart.
	HelmConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
)
