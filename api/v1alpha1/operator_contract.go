package v1alpha1

// LeaderElectionID names the Lease the operator's replicas compete for
// (in the operator's namespace). `plattr doctor` reads it to tell whether
// an operator runs; the alerts and dashboards in charts/plattr/files name
// it too.
const LeaderElectionID = "plattr-operator-leader"

// TenantOfNamespace is the tenant owning a namespace with these labels, ""
// for a shared namespace. Only a namespace Plattr manages belongs to a
// tenant: a tenant label on a namespace someone else made means nothing.
func TenantOfNamespace(labels map[string]string) string {
	if labels[LabelManagedBy] != ManagedByValue {
		return ""
	}
	return labels[LabelTenant]
}
