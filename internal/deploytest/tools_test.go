// Package deploytest checks what a platform team installs and runs: the Helm
// chart (lint, render, schema, and an install on a real control plane with
// the operator and API running under the chart's ServiceAccounts), the
// Prometheus rules (promtool), the runbooks and dashboard, and the project's
// own CI workflows (actionlint). It has no code of its own, only tests.
package deploytest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plattr/plattr/internal/testenv"
)

// root is the repository root; chartDir the chart.
var root, chartDir = func() (string, string) {
	r, err := testenv.RepoRoot()
	if err != nil {
		panic(err)
	}
	return r, filepath.Join(r, "charts", "plattr")
}()

// tool finds what hack/build-tools.sh built into bin/<name>-<version>/: the
// binary <name> in it, or the directory itself when it holds no such binary
// (monitoring-crds).
func tool(t *testing.T, name string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(root, "bin", name+"-v*", name))
	if len(matches) == 0 {
		matches, _ = filepath.Glob(filepath.Join(root, "bin", name+"-v*", "*.yaml"))
		for i := range matches {
			matches[i] = filepath.Dir(matches[i])
		}
	}
	if len(matches) == 0 {
		t.Fatalf("%s is not built: run `make tools` (hack/build-tools.sh %s)", name, name)
	}
	return matches[len(matches)-1]
}

// run runs a command and returns its combined output and error.
func run(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// mustRun is run that fails the test on error, showing the output.
func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := run(t, bin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
