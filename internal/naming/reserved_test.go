package naming

import (
	"slices"
	"testing"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Issue 17, defect 6: a shared-namespace app's schemaName "shop_web" spelt
// tenant shop's app web's schema.
func TestReservedPrefixesKeepAppsOutOfOtherTenantsNames(t *testing.T) {
	tenants := []string{"shop", "a", "a-b"}
	shared := ReservedPrefixes(platformv1.EnvironmentStaging, "", tenants)
	squat := Identifier("staging", "shop_web")
	if got := ReservedBy(squat, shared); got != "staging_shop_" {
		t.Errorf("shared app's schema %s: reserved by %q, want staging_shop_", squat, got)
	}
	if got := ReservedBy(Identifier("staging", "orders"), shared); got != "" {
		t.Errorf("an ordinary shared name is reserved by %q", got)
	}
	// Tenant a's app b-c spells tenant a-b's app c; the longer prefix wins.
	ofA := ReservedPrefixes(platformv1.EnvironmentStaging, "a", tenants)
	if got := ReservedBy(Identifier("staging", "a", "b-c", "app"), ofA); got != "staging_a_b_" {
		t.Errorf("tenant a's role for app b-c: reserved by %q, want staging_a_b_", got)
	}
	if got := ReservedBy(Identifier("staging", "a", "web", "app"), ofA); got != "" {
		t.Errorf("tenant a's own name reserved by %q", got)
	}
	// Tenant a-b's names are its own, though they start with tenant a's prefix.
	if got := ReservedPrefixes(platformv1.EnvironmentStaging, "a-b", tenants); len(got) != 0 {
		t.Errorf("tenant a-b's reserved prefixes = %v, want none", got)
	}
	if got := ReservedPrefixes(platformv1.EnvironmentProduction, "", tenants); !slices.Contains(got, "prod_shop_") {
		t.Errorf("production prefixes = %v", got)
	}
	// A shared app named like the tenant spells none of its apps' roles.
	if got := RoleReservedBy(Identifier("staging", "shop", "app"), "app", shared); got != "" {
		t.Errorf("shared app shop's role reserved by %q", got)
	}
	if got := RoleReservedBy(Identifier("staging", "shop-web", "anon"), "anon", shared); got != "staging_shop_" {
		t.Errorf("shared app shop-web's anon role reserved by %q, want staging_shop_", got)
	}
}

func TestReservedBucketPrefixes(t *testing.T) {
	shared := ReservedBucketPrefixes(platformv1.EnvironmentStaging, "", []string{"shop"})
	if len(shared) != 1 || shared[0] != "plattr-staging-shop-" {
		t.Fatalf("shared bucket prefixes = %v", shared)
	}
	// Shared app shop's bucket web-data is tenant shop's app web's bucket data.
	squat := DNSLabel("plattr", "staging", "shop", "web-data")
	if squat != DNSLabel("plattr", "staging", "shop", "web", "data") {
		t.Fatal("the names do not collide: the test is moot")
	}
	if got := BucketReservedBy(squat, shared); got != "plattr-staging-shop-" {
		t.Errorf("squatting bucket reserved by %q", got)
	}
	// Shared app shop's bucket files spells no tenant app's bucket.
	if got := BucketReservedBy(DNSLabel("plattr", "staging", "shop", "files"), shared); got != "" {
		t.Errorf("plattr-staging-shop-files reserved by %q", got)
	}
	if got := ReservedBucketPrefixes(platformv1.EnvironmentStaging, "shop", []string{"shop", "shop-eu"}); len(got) != 1 || got[0] != "plattr-staging-shop-eu-" {
		t.Errorf("tenant shop's reserved bucket prefixes = %v", got)
	}
}
