package naming

import (
	"slices"
	"strings"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
)

// Names are joined with '_' and '-' becomes '_', so one identifier can be
// spelt by several (tenant, app, schemaName) triples: an app in a shared
// namespace with schemaName "shop_web" has the schema of tenant shop's app
// web, and tenant "a"'s app "b-c" the roles of tenant "a-b"'s app "c". The
// ownership records make the second owner a conflict, never a sharer; these
// prefixes keep a name from being taken before its rightful owner exists.

// TenantPrefix starts every SQL identifier of tenant's apps in env.
func TenantPrefix(env platformv1.Environment, tenant string) string {
	return Identifier(EnvironmentPrefix(env), tenant) + "_"
}

// ReservedPrefixes are the identifier prefixes an app of tenant ("" for a
// shared namespace) in env must not create names under: those of every
// other tenant whose prefix is longer than the app's own, i.e. more
// specific. (A name that starts with two tenants' prefixes belongs to the
// longer one.)
func ReservedPrefixes(env platformv1.Environment, tenant string, tenants []string) []string {
	own := EnvironmentPrefix(env) + "_"
	if tenant != "" {
		own = TenantPrefix(env, tenant)
	}
	var out []string
	for _, t := range tenants {
		if t == tenant || t == "" {
			continue
		}
		if p := TenantPrefix(env, t); len(p) > len(own) && strings.HasPrefix(p, own) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ReservedBy returns the prefix in reserved that name falls under (with
// something after it), "" for none.
func ReservedBy(name string, reserved []string) string {
	for _, p := range reserved {
		if len(name) > len(p) && strings.HasPrefix(name, p) {
			return p
		}
	}
	return ""
}

// RoleReservedBy is ReservedBy for a role, whose name ends in suffix
// ("app", "anon"): the tenant's apps' roles are <prefix><app>_<suffix>, so a
// shared-namespace app named like the tenant (role <env>_<tenant>_app)
// spells none of them.
func RoleReservedBy(role, suffix string, reserved []string) string {
	return ReservedBy(strings.TrimSuffix(role, "_"+suffix), reserved)
}

// TenantBucketPrefix starts every bucket name of tenant's apps in env.
func TenantBucketPrefix(env platformv1.Environment, tenant string) string {
	return DNSLabel(strings.TrimSuffix(BucketPrefix, "-"), EnvironmentPrefix(env), tenant) + "-"
}

// ReservedBucketPrefixes are, like ReservedPrefixes, the bucket name
// prefixes of the other, more specific tenants.
func ReservedBucketPrefixes(env platformv1.Environment, tenant string, tenants []string) []string {
	own := DNSLabel(strings.TrimSuffix(BucketPrefix, "-"), EnvironmentPrefix(env)) + "-"
	if tenant != "" {
		own = TenantBucketPrefix(env, tenant)
	}
	var out []string
	for _, t := range tenants {
		if t == tenant || t == "" {
			continue
		}
		if p := TenantBucketPrefix(env, t); len(p) > len(own) && strings.HasPrefix(p, own) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// BucketReservedBy returns the prefix in reserved that bucket falls under,
// "" for none. A tenant's buckets are <prefix><app>-<bucket>, so only a
// name with a '-' after the prefix spells one.
func BucketReservedBy(bucket string, reserved []string) string {
	for _, p := range reserved {
		if rest, ok := strings.CutPrefix(bucket, p); ok && strings.Contains(strings.Trim(rest, "-"), "-") {
			return p
		}
	}
	return ""
}
