package crds_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/plattr/plattr/internal/testenv"
)

// openAPISchema is the part of a published OpenAPI v3 schema that
// kubectl explain reads.
type openAPISchema struct {
	Description          string                   `json:"description"`
	Ref                  string                   `json:"$ref"`
	AllOf                []openAPISchema          `json:"allOf"`
	Properties           map[string]openAPISchema `json:"properties"`
	Items                *openAPISchema           `json:"items"`
	AdditionalProperties *openAPISchema           `json:"additionalProperties"`
}

// publishedUndescribed walks a kind's schema as the API server publishes
// it. A $ref leads to a type of another API (ObjectMeta, Time): only the
// referring property's own description is Plattr's.
func publishedUndescribed(path string, s openAPISchema, element bool) []string {
	var out []string
	if !element && strings.TrimSpace(s.Description) == "" {
		out = append(out, path)
	}
	if s.Ref != "" || slices.ContainsFunc(s.AllOf, func(a openAPISchema) bool { return a.Ref != "" }) {
		return out
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		out = append(out, publishedUndescribed(path+"."+n, s.Properties[n], false)...)
	}
	if s.Items != nil {
		out = append(out, publishedUndescribed(path+"[]", *s.Items, true)...)
	}
	if s.AdditionalProperties != nil {
		out = append(out, publishedUndescribed(path+"{}", *s.AdditionalProperties, true)...)
	}
	return out
}

// TestKubectlExplainDescribesEveryField installs the CRDs on a real API
// server and reads back what kubectl explain reads: the group's published
// OpenAPI v3 document, walked for any field without a description, and
// kubectl explain itself for the fields a user found undescribed.
func TestKubectlExplainDescribesEveryField(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := testenv.StartCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []string{"Application", "PreviewEnvironment", "Tenant"}
	var doc struct {
		Components struct {
			Schemas map[string]openAPISchema `json:"schemas"`
		} `json:"components"`
	}
	// The API server publishes a CRD's OpenAPI a moment after it is
	// Established: wait until the group's document has every kind.
	var lastErr error
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		raw, err := cs.Discovery().RESTClient().Get().AbsPath("/openapi/v3/apis/platform.internal/v1alpha1").Do(ctx).Raw()
		if err != nil {
			lastErr = err
			return false, nil
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return false, err
		}
		for _, kind := range kinds {
			if _, ok := doc.Components.Schemas["internal.platform.v1alpha1."+kind]; !ok {
				lastErr = fmt.Errorf("no schema for %s yet", kind)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the API server did not publish the group's OpenAPI: %v (last: %v)", err, lastErr)
	}
	for _, kind := range kinds {
		s := doc.Components.Schemas["internal.platform.v1alpha1."+kind]
		if s.Properties["spec"].Properties == nil {
			t.Fatalf("%s's published schema has no spec fields", kind)
		}
		for _, p := range publishedUndescribed(kind, s, false) {
			t.Errorf("kubectl explain %s: <no description>", strings.ToLower(p))
		}
	}

	kubectl := filepath.Join(c.Plane.Bin.K8sDir, "kubectl")
	for _, field := range []string{
		"applications.spec.database.enabled", "applications.spec.storage.enabled", "applications.spec.storage.buckets",
		"applications.spec.auth.enabled", "applications.spec.auth.providers", "applications.spec.scaling.min",
		"applications.spec.scaling.max", "applications.spec.envVars.secretKeyRef.name", "applications.status.conditions",
		"previewenvironments.status.url", "tenants.status.namespaces.name",
	} {
		out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", c.Plane.Kubeconfig(), "explain", field).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl explain %s: %v\n%s", field, err, out)
		}
		// kubectl 1.36 prints <empty> for a field without one; older
		// versions printed <no description>.
		_, desc, found := strings.Cut(string(out), "DESCRIPTION:")
		desc = strings.TrimSpace(desc)
		if !found || desc == "" || strings.HasPrefix(desc, "<empty>") || strings.HasPrefix(desc, "<no description>") {
			t.Errorf("kubectl explain %s shows no description:\n%s", field, out)
		}
	}
}
