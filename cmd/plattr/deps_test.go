package main

import (
	"os/exec"
	"strings"
	"testing"
)

// module is this repository's Go module.
const module = "github.com/plattr/plattr/"

// forbidden are the packages the CLI must not link (issue 19, "the CLI is
// a client"): it talks to the cluster through the Kubernetes API with the
// scheme of api/, and to the platform API over HTTP (internal/apiclient);
// it runs the operator and the API of the local stack as the binaries
// plattr-operator and plattr-api, and asks plattr-api for its token.
// So none of this is linked:
//
//   - operator code: internal/operator (the manager), internal/controller/…
//     (the reconcilers), internal/capability/… (what they apply), and the
//     backends they provision with: internal/database (PostgreSQL roles,
//     schemas, copies), internal/objectstore (buckets and their users),
//     internal/awssecrets; internal/metrics (the operator's metrics) and
//     internal/config (the operator's configuration);
//   - API server code: everything under internal/platformapi (server,
//     store and its migrations, authn, authz, stream, portal, tasks…): a
//     pure client of the API lives in internal/apiclient, outside it;
//   - the commands' own packages, cmd/operator and cmd/plattr-api.
//
// Allowed, since they are contracts or clients, not a part that runs:
// api/… (types, the scheme, the contract constants), internal/naming (the
// object names every part derives), internal/apiclient, internal/crds (the
// CRD manifests `plattr dev up` installs), internal/stack/… (starting the
// local stack's processes), and internal/identity: a client of the
// identity providers' admin APIs with no loop of its own, which the local
// stack uses as its Dex's administrator to register plattr-api's OAuth2
// client, as a platform team does by hand on a real install.
var forbidden = []string{
	"internal/operator",
	"internal/controller",
	"internal/capability",
	"internal/database",
	"internal/objectstore",
	"internal/awssecrets",
	"internal/metrics",
	"internal/config",
	"internal/platformapi",
	"cmd/operator",
	"cmd/plattr-api",
}

func TestCLILinksNoOperatorOrAPIServerCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var ours []string
	for _, pkg := range strings.Fields(string(out)) {
		rel, ok := strings.CutPrefix(pkg, module)
		if !ok {
			continue
		}
		ours = append(ours, rel)
		for _, f := range forbidden {
			if rel == f || strings.HasPrefix(rel, f+"/") {
				t.Errorf("cmd/plattr links %s (under %s): the CLI is a client; reach that part over its API instead", pkg, f)
			}
		}
	}
	// The check must have seen the CLI's own packages, or it proves nothing.
	if !contains(ours, "internal/cli") || !contains(ours, "api/scheme") {
		t.Fatalf("go list -deps did not list the CLI's packages: %v", ours)
	}
	t.Logf("cmd/plattr links: %s", strings.Join(ours, " "))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
