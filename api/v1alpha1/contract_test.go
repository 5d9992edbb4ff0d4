package v1alpha1

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The CRD's CEL rules cannot call Go, so the reserved names and prefixes
// are written out in a marker; this keeps the marker equal to the lists the
// operator and its tests use.
func TestCELReservedNamesMatchTheContract(t *testing.T) {
	src, err := os.ReadFile("application_types.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`!\(self\.name in \[([^\]]*)\]\)`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no reserved-name CEL rule found on EnvVar")
	}
	var inRule []string
	for _, q := range strings.Split(string(m[1]), ",") {
		inRule = append(inRule, strings.Trim(q, "'"))
	}
	slices.Sort(inRule)
	want := slices.Sorted(slices.Values(ReservedEnvVarNames))
	if !slices.Equal(inRule, want) {
		t.Errorf("CEL rule reserves %v\ncontract reserves %v", inRule, want)
	}
	for _, p := range ReservedEnvVarPrefixes {
		if !strings.Contains(string(src), "!self.name.startsWith('"+p+"')") {
			t.Errorf("CEL rule lacks the reserved prefix %s", p)
		}
	}
}

// The Tenant CRD's reserved names are written out in its CEL rule; this
// keeps the rule equal to ReservedTenantNames, which the platform API checks.
func TestCELReservedTenantNamesMatchTheContract(t *testing.T) {
	src, err := os.ReadFile("tenant_types.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`!\(self\.metadata\.name in \[([^\]]*)\]\)`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no reserved-name CEL rule found on Tenant")
	}
	var inRule []string
	for _, q := range strings.Split(string(m[1]), ",") {
		inRule = append(inRule, strings.Trim(q, "'"))
	}
	slices.Sort(inRule)
	if want := slices.Sorted(slices.Values(ReservedTenantNames)); !slices.Equal(inRule, want) {
		t.Errorf("CEL rule reserves %v\ncontract reserves %v", inRule, want)
	}
}
