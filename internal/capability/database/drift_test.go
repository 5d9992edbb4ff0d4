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

// Drift is what PostgreSQL says against what the Secret holds; a verifier
// that matched once is not derived again.
func TestDriftedDecisions(t *testing.T) {
	app := capabilitytest.App("shop", "web")
	spec := capdatabase.Spec{Enabled: true, Names: naming.Database{Schema: "s", AppRole: "r"}, Secret: "web-db"}
	secret := func(password string) client.Object {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-db"}, Data: map[string][]byte{platformv1.KeyDBPassword: []byte(password)}}
	}
	good := database.Observed{SchemaExists: true, RoleCanLogin: true, Verifier: "v:kept"}
	for _, tt := range []struct {
		name      string
		observed  database.Observed
		existing  []client.Object
		dbErr     error
		want      bool
		wantErr   bool
		wantCalls string
	}{
		{name: "all as given", observed: good, existing: []client.Object{secret("kept")}, want: false, wantCalls: "Survey,PasswordMatches"},
		{name: "schema dropped by hand", observed: database.Observed{RoleCanLogin: true}, want: true, wantCalls: "Survey"},
		{name: "login revoked", observed: database.Observed{SchemaExists: true}, want: true, wantCalls: "Survey"},
		{name: "password changed behind the Secret's back", observed: good, existing: []client.Object{secret("other")}, want: true, wantCalls: "Survey,PasswordMatches"},
		{name: "verifier not readable (no superuser): only existence counts", observed: database.Observed{SchemaExists: true, RoleCanLogin: true}, want: false, wantCalls: "Survey"},
		{name: "no Secret: the reconciler's to notice, not drift", observed: good, want: false, wantCalls: "Survey"},
		{name: "PostgreSQL down is an error naming the database", dbErr: errors.New("connection refused"), wantErr: true, wantCalls: "Survey"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := capabilitytest.NewEnv(t, tt.existing...)
			db := &fakeDB{err: tt.dbErr, observed: map[string]database.Observed{"r": tt.observed}}
			c := &capdatabase.Capability{Kube: env.Kube, DB: db}
			got, err := c.Drifted(context.Background(), capabilitytest.Target(app), spec)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("Drifted = %v (%v), want %v (error: %v)", got, err, tt.want, tt.wantErr)
			}
			if backend, _ := capability.UnavailableBackend(err); tt.wantErr && backend != capability.BackendDatabase {
				t.Errorf("error %v does not name the database", err)
			}
			if calls := strings.Join(db.calls, ","); calls != tt.wantCalls {
				t.Errorf("backend calls %q, want %q", calls, tt.wantCalls)
			}
			if env.Writes() != 0 {
				t.Errorf("a drift check wrote %d times", env.Writes())
			}
		})
	}
}

// Many owners cost one Survey; a verifier found to match is remembered, so
// the next check does not derive the key again.
func TestDriftedAllAsksOnceAndRemembersAMatch(t *testing.T) {
	a, b := capabilitytest.App("shop", "a"), capabilitytest.App("shop", "b")
	env := capabilitytest.NewEnv(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "a-db"}, Data: map[string][]byte{platformv1.KeyDBPassword: []byte("pa")}})
	db := &fakeDB{observed: map[string]database.Observed{
		"ra": {SchemaExists: true, RoleCanLogin: true, Verifier: "v:pa"},
		"rb": {SchemaExists: false, RoleCanLogin: true},
	}}
	c := &capdatabase.Capability{Kube: env.Kube, DB: db}
	checks := []capdatabase.Check{
		{Target: capabilitytest.Target(a), Spec: capdatabase.Spec{Names: naming.Database{AppRole: "ra"}, Secret: "a-db"}},
		{Target: capabilitytest.Target(b), Spec: capdatabase.Spec{Names: naming.Database{AppRole: "rb"}, Secret: "b-db"}},
	}
	for range 2 {
		got, err := c.DriftedAll(context.Background(), checks)
		if err != nil || len(got) != 2 || got[0] || !got[1] {
			t.Fatalf("DriftedAll = %v (%v), want [false true]", got, err)
		}
	}
	if calls := strings.Join(db.calls, ","); calls != "Survey,PasswordMatches,Survey" {
		t.Errorf("backend calls %q: want one Survey per check of all, and the match remembered", calls)
	}
}
