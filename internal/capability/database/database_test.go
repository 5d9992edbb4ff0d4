package database_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/capability"
	"github.com/plattr/plattr/internal/capability/capabilitytest"
	capdatabase "github.com/plattr/plattr/internal/capability/database"
	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

// fakeDB records the calls and answers with err. The real provisioner's
// effects are tested against PostgreSQL in internal/database.
type fakeDB struct {
	err      error
	restored bool
	calls    []string
	password string
	// observed answers Survey, by app role; a verifier is "v:" + password.
	observed map[string]database.Observed
}

func (f *fakeDB) Survey(_ context.Context, names []naming.Database) (map[string]database.Observed, error) {
	f.calls = append(f.calls, "Survey")
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]database.Observed{}
	for _, n := range names {
		out[n.AppRole] = f.observed[n.AppRole]
	}
	return out, nil
}

func (f *fakeDB) PasswordMatches(verifier, password string) bool {
	f.calls = append(f.calls, "PasswordMatches")
	return verifier == "v:"+password
}

func (f *fakeDB) CopySchema(context.Context, naming.Database, naming.Database, string, int64) (database.CopyResult, error) {
	f.calls = append(f.calls, "CopySchema")
	return database.CopyResult{}, f.err
}

func (f *fakeDB) Ensure(_ context.Context, _ naming.Database, _ database.Owner, password string) (database.Change, error) {
	f.calls = append(f.calls, "Ensure")
	f.password = password
	return database.Change{PasswordRestored: f.restored}, f.err
}

func (f *fakeDB) Rotate(_ context.Context, _ naming.Database, _ database.Owner, password string) error {
	f.calls = append(f.calls, "Rotate")
	f.password = password
	return f.err
}

func (f *fakeDB) Remove(context.Context, naming.Database, database.Owner, bool) error {
	f.calls = append(f.calls, "Remove")
	return f.err
}

func (f *fakeDB) Connection(n naming.Database, password string) database.ConnectionInfo {
	return database.ConnectionInfo{URL: "postgres://" + n.AppRole + ":" + password + "@db/app", User: n.AppRole, Password: password, Schema: n.Schema}
}

func TestEnsureDecisions(t *testing.T) {
	app := capabilitytest.App("shop", "web")
	names := naming.Database{Schema: "staging_web", AppRole: "staging_web_app", AnonRole: "staging_web_anon", Channel: "pgrst_staging_web"}
	spec := capdatabase.Spec{Enabled: true, Names: names, Owner: database.Owner{Namespace: "shop", Name: "web"}, Secret: "web-db"}
	ours := func(password string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-db",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "platform.internal/v1alpha1", Kind: "Application", Name: "web", UID: app.UID, Controller: ptrTrue()}}},
			Data: map[string][]byte{platformv1.KeyDBPassword: []byte(password)}}
	}
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-db"}, Data: map[string][]byte{"x": []byte("y")}}

	tests := []struct {
		name        string
		spec        capdatabase.Spec
		existing    []client.Object
		established bool
		dbErr       error
		restored    bool
		wantCalls   string
		wantStatus  metav1.ConditionStatus
		wantReason  string
		wantBackend bool // the error names the database as unavailable
		wantEvent   string
		wantSecret  bool
	}{
		{name: "disabled touches nothing", spec: capdatabase.Spec{Enabled: false},
			wantStatus: metav1.ConditionTrue, wantReason: platformv1.ReasonDisabled},
		{name: "no Secret yet: the backend gets a new password first, then the Secret", spec: spec,
			wantCalls: "Rotate", wantStatus: metav1.ConditionTrue, wantReason: platformv1.ReasonProvisioned, wantSecret: true},
		{name: "a deleted Secret of an established app is a rotation, with an Event", spec: spec, established: true,
			wantCalls: "Rotate", wantStatus: metav1.ConditionTrue, wantReason: platformv1.ReasonProvisioned, wantEvent: platformv1.EventRotated, wantSecret: true},
		{name: "the Secret's password is asserted, never replaced", spec: spec, existing: []client.Object{ours("kept")},
			wantCalls: "Ensure", wantStatus: metav1.ConditionTrue, wantReason: platformv1.ReasonProvisioned, wantSecret: true},
		{name: "a drifted password set back is a Warning", spec: spec, existing: []client.Object{ours("kept")}, restored: true,
			wantCalls: "Ensure", wantStatus: metav1.ConditionTrue, wantReason: platformv1.ReasonProvisioned, wantEvent: platformv1.EventPasswordRestored, wantSecret: true},
		{name: "a foreign Secret is neither read nor taken over; the backend is not called", spec: spec, existing: []client.Object{foreign},
			wantStatus: metav1.ConditionFalse, wantReason: platformv1.ReasonSecretConflict},
		{name: "PostgreSQL down: unavailable, retried when it answers", spec: spec, dbErr: errors.New("connection refused"),
			wantCalls: "Rotate", wantStatus: metav1.ConditionFalse, wantReason: platformv1.ReasonDatabaseUnavailable, wantBackend: true},
		{name: "a schema of another app is a conflict, not an outage", spec: spec, dbErr: database.ErrConflict,
			wantCalls: "Rotate", wantStatus: metav1.ConditionFalse, wantReason: platformv1.ReasonSchemaConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := app.DeepCopy()
			env := capabilitytest.NewEnv(t, tt.existing...)
			db := &fakeDB{err: tt.dbErr, restored: tt.restored}
			c := &capdatabase.Capability{Kube: env.Kube, DB: db}
			target := capabilitytest.Target(app)
			target.Established = tt.established

			sources, err := c.Ensure(context.Background(), target, tt.spec)

			if got := strings.Join(db.calls, ","); got != tt.wantCalls {
				t.Errorf("backend calls %q, want %q", got, tt.wantCalls)
			}
			cond := capabilitytest.Condition(t, app, platformv1.ConditionDatabaseReady)
			if cond.Status != tt.wantStatus || cond.Reason != tt.wantReason {
				t.Errorf("DatabaseReady %s/%s (%s), want %s/%s", cond.Status, cond.Reason, cond.Message, tt.wantStatus, tt.wantReason)
			}
			if (err != nil) != (tt.wantStatus == metav1.ConditionFalse) {
				t.Errorf("error %v with condition %s", err, cond.Status)
			}
			if _, ok := capability.UnavailableBackend(err); ok != tt.wantBackend {
				t.Errorf("error %v marks the backend unavailable: %v, want %v", err, ok, tt.wantBackend)
			}
			events := strings.Join(env.Events(), "\n")
			if (tt.wantEvent == "") != (events == "") || !strings.Contains(events, tt.wantEvent) {
				t.Errorf("events %q, want %q", events, tt.wantEvent)
			}
			secret := &corev1.Secret{}
			getErr := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "web-db"}, secret)
			if tt.wantSecret {
				if getErr != nil {
					t.Fatalf("Secret not written: %v", getErr)
				}
				if got := string(secret.Data[platformv1.KeyDBPassword]); got != db.password {
					t.Errorf("Secret holds password %q, the backend got %q", got, db.password)
				}
				if len(sources) != 1 || sources[0].Name != "web-db" {
					t.Errorf("sources %+v, want the Secret web-db", sources)
				}
			} else if len(sources) != 0 {
				t.Errorf("sources %+v on failure", sources)
			}
			if len(tt.existing) > 0 && tt.existing[0] == foreign {
				if string(secret.Data["x"]) != "y" || secret.Data[platformv1.KeyDBPassword] != nil {
					t.Errorf("the foreign Secret was changed: %v", secret.Data)
				}
			}
		})
	}
}

// A second Ensure with nothing changed writes nothing.
func TestEnsureTwiceWritesOnce(t *testing.T) {
	app := capabilitytest.App("shop", "web")
	env := capabilitytest.NewEnv(t)
	c := &capdatabase.Capability{Kube: env.Kube, DB: &fakeDB{}}
	spec := capdatabase.Spec{Enabled: true, Names: naming.Database{Schema: "s", AppRole: "r"}, Secret: "web-db"}
	if _, err := c.Ensure(context.Background(), capabilitytest.Target(app), spec); err != nil {
		t.Fatal(err)
	}
	first := env.Writes()
	if _, err := c.Ensure(context.Background(), capabilitytest.Target(app), spec); err != nil {
		t.Fatal(err)
	}
	if first != 1 || env.Writes() != first {
		t.Errorf("writes: %d after the first Ensure (want 1), %d after the second (want no more)", first, env.Writes())
	}
}

func ptrTrue() *bool { b := true; return &b }
