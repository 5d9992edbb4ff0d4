// Package admission embeds Plattr's admission policies (CEL, run by the API
// server itself, no webhook to operate), so the binaries install them with
// the CRDs.
package admission

import "embed"

// Policies holds *.yaml: ValidatingAdmissionPolicies and their bindings.
//
//go:embed *.yaml
var Policies embed.FS
