package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

// check is one of doctor's checks: what it looked at, and if wrong, what
// is wrong and what to do.
type check struct {
	what, problem, fix string
}

func newDoctorCommand(g *globals) *cobra.Command {
	var tf targetFlags
	cmd := &cobra.Command{
		Use:   "doctor [app]",
		Short: "Run the troubleshooting checks and say what is wrong and what to do",
		Long: `Check, in order: the cluster answers; Plattr's CRDs are installed; the
operator runs; and for the app (plattr.yaml's, or named): it exists, each
condition, its Secrets, its database login and the PostgREST role's grants.
Exits non-zero when something is wrong.`,
		Example: "  plattr doctor\n  plattr doctor web -n default",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			var checks []check
			s, err := g.session()
			if err != nil {
				checks = append(checks, check{"the cluster", err.Error(), "start the local stack (plattr dev up) or point --kubeconfig at your cluster"})
				return report(cmd.OutOrStdout(), checks)
			}
			checks = append(checks, g.platformChecks(ctx, s)...)
			if t, err := tf.resolve(s, args); err == nil {
				checks = append(checks, appChecks(ctx, s, t)...)
			} else if len(args) > 0 || tf.app != "" {
				checks = append(checks, check{"the app", err.Error(), "name the app: plattr doctor NAME -n NAMESPACE"})
			}
			return report(cmd.OutOrStdout(), checks)
		},
	}
	tf.add(cmd)
	return cmd
}

func report(out io.Writer, checks []check) error {
	bad := 0
	for _, c := range checks {
		if c.problem == "" {
			fmt.Fprintf(out, "ok    %s\n", c.what)
			continue
		}
		bad++
		fmt.Fprintf(out, "FAIL  %s: %s\n      → %s\n", c.what, c.problem, c.fix)
	}
	if bad > 0 {
		return fmt.Errorf("%d problem(s) found", bad)
	}
	fmt.Fprintln(out, "no problems found")
	return nil
}

func (g *globals) platformChecks(ctx context.Context, s *session) []check {
	var out []check
	if v, err := s.kube.Discovery().ServerVersion(); err != nil {
		return append(out, check{"the cluster", err.Error(), "start the local stack (plattr dev up) or check --kubeconfig and --context"})
	} else {
		out = append(out, check{what: "the cluster answers (Kubernetes " + v.GitVersion + ")"})
	}
	scheme := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(scheme)
	c, err := client.New(s.cfg, client.Options{Scheme: scheme})
	if err != nil {
		return append(out, check{"the CRDs", err.Error(), "check your kubeconfig"})
	}
	for _, name := range []string{"applications.platform.internal", "previewenvironments.platform.internal"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			out = append(out, check{"CRD " + name, err.Error(), "install Plattr: kubectl apply --server-side -k config/default (or the Helm chart); the local stack installs them itself"})
		} else {
			out = append(out, check{what: "CRD " + name + " installed"})
		}
	}
	out = append(out, g.operatorCheck(ctx, s))
	return out
}

// operatorCheck finds the operator: a leader Lease renewed lately, a ready
// plattr-operator Deployment, or the local stack's process.
func (g *globals) operatorCheck(ctx context.Context, s *session) check {
	leases := &coordinationv1.LeaseList{}
	if err := s.c.List(ctx, leases); err == nil {
		for _, l := range leases.Items {
			// A leader that stopped releases the Lease: no holder.
			if l.Name == platformv1.LeaderElectionID && deref(l.Spec.HolderIdentity) != "" && l.Spec.RenewTime != nil && time.Since(l.Spec.RenewTime.Time) < time.Minute {
				return check{what: fmt.Sprintf("the operator runs (leader %s)", deref(l.Spec.HolderIdentity))}
			}
		}
	}
	deps := &appsv1.DeploymentList{}
	if err := s.c.List(ctx, deps); err == nil {
		for _, d := range deps.Items {
			if d.Name == "plattr-operator" && d.Status.ReadyReplicas > 0 {
				return check{what: fmt.Sprintf("the operator runs (%s/%s, %d ready)", d.Namespace, d.Name, d.Status.ReadyReplicas)}
			}
		}
	}
	if d, err := g.devStack(); err == nil {
		if running := d.Status()["plattr-operator"]; running {
			return check{what: "the operator runs (local stack)"}
		}
	}
	return check{"the operator", "no running operator found (no fresh Lease " + platformv1.LeaderElectionID + ", no ready Deployment plattr-operator, no local stack operator)",
		"start it: `plattr dev up` on the local stack; on a cluster, kubectl -n plattr-system get pods and its logs"}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func appChecks(ctx context.Context, s *session, t target) []check {
	app := &platformv1.Application{}
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: t.app}, app); err != nil {
		return []check{{"app " + t.app, fmt.Sprintf("not found in namespace %s: %v", t.ns, err), "deploy it (plattr deploy), or name its namespace (-n) or environment (--env)"}}
	}
	out := []check{{what: fmt.Sprintf("app %s/%s exists (phase %s)", t.ns, t.app, orUnknown(app.Status.Phase))}}
	if app.Status.ObservedGeneration == 0 && len(app.Status.Conditions) == 0 {
		out = append(out, check{"the app's status", "no condition reported", "the operator has not reconciled it: see the operator check above"})
	}
	for _, typ := range platformv1.ConditionTypes {
		c := meta.FindStatusCondition(app.Status.Conditions, typ)
		if c == nil {
			continue
		}
		if c.Status == metav1.ConditionTrue {
			out = append(out, check{what: fmt.Sprintf("%s (%s)", typ, c.Reason)})
		} else {
			out = append(out, check{typ, c.Reason + ": " + c.Message, "the message says what to do; `plattr status` shows every condition"})
		}
	}
	if !app.Spec.DatabaseEnabled() {
		return out
	}
	url, err := databaseURL(ctx, s.c, t.ns, t.app)
	if err != nil {
		return append(out, check{"Secret " + naming.ObjectsFor(t.app).DatabaseSecret, err.Error(),
			"the operator writes it again within moments; if it does not, see DatabaseReady and the operator's logs"})
	}
	out = append(out, check{what: "Secret " + naming.ObjectsFor(t.app).DatabaseSecret + " present"})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return append(out, check{"the database login", err.Error(),
			"delete the Secret to get new credentials (kubectl delete secret " + naming.ObjectsFor(t.app).DatabaseSecret + "), or check PostgreSQL is up"})
	}
	defer conn.Close(context.Background())
	out = append(out, check{what: "the database login works"})
	// A tenant's app has tenant-scoped names; a user who may not read
	// namespaces sees the shared names, and the check below says so.
	tenant := tenantOf(ctx, s.c, t.ns)
	names := naming.For(app, tenant).Database()
	var usage, member bool
	if err := conn.QueryRow(ctx, "SELECT has_schema_privilege($1, $2, 'USAGE'), pg_has_role(current_user, $1, 'MEMBER')", names.AnonRole, names.Schema).Scan(&usage, &member); err != nil {
		return append(out, check{"PostgREST's role " + names.AnonRole, err.Error(), "the operator recreates the role: wait a minute or see DatabaseReady"})
	}
	switch {
	case !member:
		out = append(out, check{"PostgREST's role " + names.AnonRole, "the app role may not switch to it, so /api/rest refuses every request",
			"the operator grants it back at its next drift check (a minute); or GRANT " + names.AnonRole + " TO " + names.AppRole})
	case !usage:
		out = append(out, check{"PostgREST's role " + names.AnonRole, "it has no USAGE on schema " + names.Schema + ", so /api/rest sees no tables",
			"GRANT USAGE ON SCHEMA " + names.Schema + " TO " + names.AnonRole + " (the operator restores it on its next resync)"})
	default:
		out = append(out, check{what: "PostgREST's role " + names.AnonRole + " may use schema " + names.Schema})
	}
	return out
}
