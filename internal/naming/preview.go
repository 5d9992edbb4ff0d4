package naming

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Preview names the resources of one pull request's preview of an app
// (docs/OPERATOR.md#preview-environments). Every name carries the app and the PR number. An Application
// of environment preview could be given an equal name (schemaName
// "web_pr42"); the ownership markers in every backend refuse the second
// owner with a Conflict reason instead of sharing.
type Preview struct {
	App string
	PR  int32
	// Tenant is the parent's tenant ("" in a shared namespace); a tenant's
	// previews carry it in every name, as its apps do.
	Tenant string
}

func (p Preview) pr() string { return fmt.Sprintf("pr%d", p.PR) }

// base is "preview", the tenant if any, then the app.
func (p Preview) base(parts ...string) []string {
	out := []string{"preview"}
	if p.Tenant != "" {
		out = append(out, p.Tenant)
	}
	return append(append(out, p.App), parts...)
}

// Namespace is the preview's own namespace, preview-<app>-pr-<N>.
func (p Preview) Namespace() string { return DNSLabel(p.base("pr", fmt.Sprint(p.PR))...) }

// Database names the preview's schema preview_<app>_pr<N> — the name
// PostgREST is told — and its roles.
func (p Preview) Database() Database {
	return Database{
		Schema:   Identifier(p.base(p.pr())...),
		AppRole:  Identifier(p.base(p.pr(), "app")...),
		AnonRole: Identifier(p.base(p.pr(), "anon")...),
		Channel:  Identifier(append([]string{"pgrst"}, p.base(p.pr())...)...),
	}
}

// Host is pr-<N>.<app>.preview.<BASE_DOMAIN>.
func (p Preview) Host(baseDomain string) string {
	if p.Tenant != "" {
		return fmt.Sprintf("pr-%d.%s.%s.preview.%s", p.PR, DNSLabel(p.App), DNSLabel(p.Tenant), baseDomain)
	}
	return fmt.Sprintf("pr-%d.%s.preview.%s", p.PR, DNSLabel(p.App), baseDomain)
}

// Bucket names one of the preview's buckets: plattr-preview-<app>-pr<N>-<bucket>.
func (p Preview) Bucket(bucket string) string {
	return DNSLabel(append([]string{strings.TrimSuffix(BucketPrefix, "-")}, p.base(p.pr(), bucket)...)...)
}

// BucketsPrefix starts every bucket name of the preview (see BucketsPrefix).
func (p Preview) BucketsPrefix() string {
	prefix := DNSLabel(append([]string{strings.TrimSuffix(BucketPrefix, "-")}, p.base(p.pr())...)...) + "-"
	if len(prefix) > 50 {
		prefix = prefix[:50]
	}
	return prefix
}

// StorageUser is the preview's access key ID, hash-suffixed like StorageUser
// over the parent's namespace, the app and the PR.
func (p Preview) StorageUser(parentNamespace string) string {
	sum := sha256.Sum256([]byte(parentNamespace + "\x00preview\x00" + p.App + "\x00" + p.pr()))
	suffix := "-" + hex.EncodeToString(sum[:])[:hashLength]
	head := DNSLabel(append([]string{"plattr"}, p.base(p.pr())...)...)
	if len(head) > MaxDNSLabelLength-len(suffix) {
		head = strings.TrimRight(head[:MaxDNSLabelLength-len(suffix)], "-")
	}
	return head + suffix
}

// Realm is the preview's identity realm or Dex client, preview-<app>-pr<N>.
func (p Preview) Realm() string { return DNSLabel(p.base(p.pr())...) }
