package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/plattr/plattr/api/scheme"
	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/charts/ext"
)

// A fake API server (controller-runtime's fake client): these tests check
// the CLI's own decisions — which chart a name means, how --set is read —
// not the cluster.

func cv(name, source, repo, chart, version string) *platformv1.ChartVersion {
	return &platformv1.ChartVersion{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: platformv1.ChartVersionSpec{Source: source, Repository: repo, Chart: chart, Version: version}}
}

func TestChartNamesResolveOrListTheCandidates(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(
		cv("a", "local", "charts/redis", "redis", "1.2.0"),
		cv("b", "local", "charts/redis", "redis", "1.10.0"),
		cv("c", "vendor", "stable/redis", "redis", "9.0.0"),
		cv("d", "local", "charts/web", "web", "0.1.0"),
	).Build()
	ctx := context.Background()
	if _, err := chartVersions(ctx, c, "redis"); err == nil || !strings.Contains(err.Error(), "ambiguous") ||
		!strings.Contains(err.Error(), "local/charts/redis") || !strings.Contains(err.Error(), "vendor/stable/redis") {
		t.Errorf("an ambiguous name: %v", err)
	}
	vs, err := chartVersions(ctx, c, "local/charts/redis")
	if err != nil || len(vs) != 2 || vs[0].Spec.Version != "1.10.0" {
		t.Errorf("SOURCE/REPOSITORY: %v, newest first by semver: %+v", err, vs)
	}
	if vs, err := chartVersions(ctx, c, "web"); err != nil || vs[0].Name != "d" {
		t.Errorf("a unique name: %v %v", vs, err)
	}
	if _, err := chartVersions(ctx, c, "nope"); err == nil || !strings.Contains(err.Error(), "plattr chart list") {
		t.Errorf("an unknown chart: %v", err)
	}
	newest, err := newestVersions(ctx, c)
	if err != nil || len(newest) != 3 {
		t.Fatalf("newest: %v %v", newest, err)
	}
}

func TestSetIsReadByTheInputsType(t *testing.T) {
	e, err := ext.Parse(map[string][]byte{ext.RootUISchema: []byte(`{"inputs": [
	  {"id": "name", "type": "text", "label": "Name", "required": true},
	  {"id": "size", "type": "number", "label": "Size", "maximum": 5},
	  {"id": "debug", "type": "Checkbox", "label": "Debug"},
	  {"id": "hosts", "type": "array", "itemType": "text", "label": "Hosts"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseSets([]string{"name=7", "size=3", "debug=true", `hosts=["a","b"]`}, e.UISchema)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if string(b) != `{"debug":true,"hosts":["a","b"],"name":"7","size":3}` {
		t.Errorf("parsed %s", b)
	}
	if err := e.UISchema.Validate(got); err != nil {
		t.Errorf("valid: %v", err)
	}
	for _, bad := range [][]string{{"size=big"}, {"debug=maybe"}, {"hosts=a,b"}, {"novalue"}} {
		if _, err := parseSets(bad, e.UISchema); err == nil {
			t.Errorf("--set %v accepted", bad)
		}
	}
	// A missing required input is named before anything is written.
	sets, _ := parseSets([]string{"size=9"}, e.UISchema)
	if err := e.UISchema.Validate(sets); err == nil || !strings.Contains(err.Error(), "input name (Name) is required") || !strings.Contains(err.Error(), "maximum 5") {
		t.Errorf("validation: %v", err)
	}
}
