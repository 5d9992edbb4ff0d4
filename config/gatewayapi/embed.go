// Package gatewayapi embeds the Gateway API's CustomResourceDefinitions
// (standard channel) that ApiAggregators render to: copied by `make
// generate` from the sigs.k8s.io/gateway-api module go.mod requires, so
// the version installed is the version the operator is built against.
package gatewayapi

import "embed"

// CRDs holds the Gateway API CRDs Plattr uses: GatewayClass, Gateway,
// HTTPRoute and ReferenceGrant.
//
//go:embed *.yaml
var CRDs embed.FS
