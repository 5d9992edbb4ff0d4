package deploytest

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestWorkflows: the project's own CI and release workflows pass actionlint
// (syntax, expressions, action inputs, untrusted input in scripts), CI runs
// .ci/run, and the release builds images and packages the chart.
func TestWorkflows(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if len(files) < 2 {
		t.Fatalf("workflows: %v; want ci.yml and release.yml", files)
	}
	out, err := run(t, tool(t, "actionlint"), append([]string{"-color=false"}, files...)...)
	if err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
	ci := readFile(t, filepath.Join(root, ".github", "workflows", "ci.yml"))
	if !strings.Contains(ci, "bash .ci/run") {
		t.Error("ci.yml does not run .ci/run")
	}
	rel := readFile(t, filepath.Join(root, ".github", "workflows", "release.yml"))
	for _, step := range []string{"make images REGISTRY=", "package charts/plattr", "push dist/plattr-"} {
		if !strings.Contains(rel, step) {
			t.Errorf("release.yml lacks %q", step)
		}
	}
}
