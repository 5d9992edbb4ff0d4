//go:build tools

// Package tools pins the command packages built from this module that no
// Go file of ours imports.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
