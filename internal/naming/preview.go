package naming

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Preview names the resources of one pull request's preview of an app
// (SPEC §4). Every name carries the app and the PR number. An Application
// of environment preview could be given an equal name (schemaName
// "web_pr42"); the ownership markers in every backend refuse the second
// owner with a Conflict reason instead of sharing.
type Preview struct {
	App string
	PR  int32
}

func (p Preview) pr() string { return fmt.Sprintf("pr%d", p.PR) }

// Namespace is the preview's own namespace, preview-<app>-pr-<N>.
func (p Preview) Namespace() string { return DNSLabel("preview", p.App, "pr", fmt.Sprint(p.PR)) }

// Database names the preview's schema preview_<app>_pr<N> — the name
// PostgREST is told — and its roles.
func (p Preview) Database() Database {
	return Database{
		Schema:   Identifier("preview", p.App, p.pr()),
		AppRole:  Identifier("preview", p.App, p.pr(), "app"),
		AnonRole: Identifier("preview", p.App, p.pr(), "anon"),
		Channel:  Identifier("pgrst", "preview", p.App, p.pr()),
	}
}

// Host is pr-<N>.<app>.preview.<BASE_DOMAIN>.
func (p Preview) Host(baseDomain string) string {
	return fmt.Sprintf("pr-%d.%s.preview.%s", p.PR, DNSLabel(p.App), baseDomain)
}

// Bucket names one of the preview's buckets: plattr-preview-<app>-pr<N>-<bucket>.
func (p Preview) Bucket(bucket string) string {
	return DNSLabel(strings.TrimSuffix(BucketPrefix, "-"), "preview", p.App, p.pr(), bucket)
}

// BucketsPrefix starts every bucket name of the preview (see BucketsPrefix).
func (p Preview) BucketsPrefix() string {
	prefix := DNSLabel(strings.TrimSuffix(BucketPrefix, "-"), "preview", p.App, p.pr()) + "-"
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
	head := DNSLabel("plattr", "preview", p.App, p.pr())
	if len(head) > MaxDNSLabelLength-len(suffix) {
		head = strings.TrimRight(head[:MaxDNSLabelLength-len(suffix)], "-")
	}
	return head + suffix
}

// Realm is the preview's identity realm or Dex client, preview-<app>-pr<N>.
func (p Preview) Realm() string { return DNSLabel("preview", p.App, p.pr()) }
