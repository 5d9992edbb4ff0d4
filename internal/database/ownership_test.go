package database_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/plattr/plattr/internal/database"
	"github.com/plattr/plattr/internal/naming"
)

// Issue 17, defects 6 and 7: who owns a schema or role was read from
// comments the app role itself can write, and said only namespace/name, so
// a re-created app of the same name inherited retained data. These tests
// attack with the app's own credentials.

func q(id string) string { return naming.QuoteIdentifier(id) }

func schemaOwner(t *testing.T, schema string) string {
	t.Helper()
	var owner string
	_ = admin(t).QueryRow(context.Background(), "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", schema).Scan(&owner)
	return owner
}

func isMember(t *testing.T, member, role string) bool {
	t.Helper()
	var m bool
	_ = admin(t).QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles u ON u.oid = a.member
		WHERE r.rolname = $1 AND u.rolname = $2)`, role, member).Scan(&m)
	return m
}

// (a) The app role owns its schema, so it can rewrite the schema's comment
// to another app's marker; the provisioner must not then hand the schema to
// that other app.
func TestAForgedSchemaCommentDoesNotHandTheSchemaToAnotherApp(t *testing.T) {
	ctx := context.Background()
	attacker := naming.Database{Schema: "staging_forged", AppRole: "staging_forger_app", AnonRole: "staging_forger_anon"}
	attackerOwner := database.Owner{Namespace: "team-a", Name: "forger", UID: "uid-forger"}
	if _, err := prov.Ensure(ctx, attacker, attackerOwner, "forger-password-1"); err != nil {
		t.Fatal(err)
	}
	conn := connectAs(t, attacker, "forger-password-1")
	// The victim-to-be: another team's app whose schemaName is "forged".
	victim := naming.Database{Schema: "staging_forged", AppRole: "staging_victim_app", AnonRole: "staging_victim_anon"}
	victimOwner := database.Owner{Namespace: "team-b", Name: "victim", UID: "uid-victim"}
	if _, err := conn.Exec(ctx, "CREATE TABLE trap (v text); INSERT INTO trap VALUES ('planted')"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "COMMENT ON SCHEMA staging_forged IS 'plattr:app=team-b/victim'"); err != nil {
		t.Fatalf("the app role could not comment on its own schema (the test assumes it can): %v", err)
	}
	if _, err := conn.Exec(ctx, "GRANT ALL ON trap TO staging_victim_app"); err != nil {
		t.Logf("granting to the victim's role (not created yet): %v", err)
	}
	// What else the app role can do to its markers, for the record.
	_, roleErr := conn.Exec(ctx, "COMMENT ON ROLE staging_forger_app IS 'plattr:app=team-b/victim'")
	t.Logf("COMMENT ON ROLE by the app role itself: err=%v", roleErr)
	_, ownerErr := conn.Exec(ctx, "ALTER SCHEMA staging_forged OWNER TO staging_victim_app")
	t.Logf("ALTER SCHEMA OWNER by the app role: err=%v", ownerErr)

	_, err := prov.Ensure(ctx, victim, victimOwner, "victim-password-1")
	if !errors.Is(err, database.ErrConflict) {
		t.Fatalf("the victim's Ensure on a schema whose comment the attacker forged: err = %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "spec.database.schemaName") {
		t.Errorf("the conflict does not name the field: %v", err)
	}
	if got := schemaOwner(t, "staging_forged"); got != "staging_forger_app" {
		t.Errorf("schema owner = %q", got)
	}
	// The attacker's own operations keep working: its row is the truth.
	if change, err := prov.Ensure(ctx, attacker, attackerOwner, "forger-password-1"); err != nil || change.Changed {
		t.Errorf("the attacker's own Ensure: %+v err=%v, want no change", change, err)
	}
	// And a Remove in the victim's name touches nothing.
	if err := prov.Remove(ctx, victim, victimOwner, false); err != nil {
		t.Fatal(err)
	}
	if schemaOwner(t, "staging_forged") == "" {
		t.Error("the victim's Remove dropped the attacker's schema")
	}
}

// (a) The ownership records are out of the app's reach.
func TestAnAppRoleCannotReadOrWriteTheOwnershipRecords(t *testing.T) {
	ctx := context.Background()
	n, owner := names("rec"), database.Owner{Namespace: "ns", Name: "rec", UID: "uid-rec"}
	if _, err := prov.Ensure(ctx, n, owner, "rec-password-1"); err != nil {
		t.Fatal(err)
	}
	conn := connectAs(t, n, "rec-password-1")
	for _, stmt := range []string{
		"SELECT * FROM plattr_operator.owners",
		"UPDATE plattr_operator.owners SET uid = 'mine'",
		"INSERT INTO plattr_operator.owners (kind, name, namespace, app, uid) VALUES ('schema', 'staging_other', 'ns', 'rec', 'uid-rec')",
		"CREATE TABLE plattr_operator.x (v int)",
	} {
		if _, err := conn.Exec(ctx, stmt); err == nil {
			t.Errorf("the app role ran %q", stmt)
		}
	}
}

// (b) A shared-namespace app chooses schemaName "shop_web", which is the
// schema of tenant shop's app web, before that app exists; it plants a
// table and forges the comment. shop/web must get a clear conflict, never
// the squatter's schema.
func TestASquattedSchemaIsNeverGivenToTheTenantsApp(t *testing.T) {
	ctx := context.Background()
	squatter := naming.Database{Schema: naming.Identifier("staging", "shop_web"), AppRole: naming.Identifier("staging", "sqt", "app"), AnonRole: naming.Identifier("staging", "sqt", "anon")}
	tenantApp := naming.Database{Schema: naming.Identifier("staging", "shop", "web"), AppRole: naming.Identifier("staging", "shop", "web", "app"), AnonRole: naming.Identifier("staging", "shop", "web", "anon")}
	if squatter.Schema != tenantApp.Schema {
		t.Fatalf("the names do not collide (%s, %s): the test is moot", squatter.Schema, tenantApp.Schema)
	}
	if _, err := prov.Ensure(ctx, squatter, database.Owner{Namespace: "default", Name: "sqt", UID: "uid-sqt"}, "sqt-password-1"); err != nil {
		t.Fatal(err)
	}
	conn := connectAs(t, squatter, "sqt-password-1")
	if _, err := conn.Exec(ctx, "CREATE TABLE orders (v text); INSERT INTO orders VALUES ('squatter data')"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("COMMENT ON SCHEMA %s IS 'plattr:app=shop-staging/web'", q(squatter.Schema))); err != nil {
		t.Fatal(err)
	}
	tenantOwner := database.Owner{Namespace: "shop-staging", Name: "web", UID: "uid-shop-web"}
	_, err := prov.Ensure(ctx, tenantApp, tenantOwner, "shop-password-1")
	if !errors.Is(err, database.ErrConflict) {
		t.Fatalf("shop/web's Ensure on the squatted schema: err = %v, want ErrConflict", err)
	}
	var usage bool
	_ = admin(t).QueryRow(ctx, "SELECT COALESCE((SELECT has_schema_privilege(rolname, $1, 'USAGE') FROM pg_roles WHERE rolname = $2), false)", squatter.Schema, tenantApp.AppRole).Scan(&usage)
	if usage {
		t.Error("shop/web's role was given the squatter's schema")
	}
}

// (d) Defect 7: an app deleted with Retain, then an app of the same
// namespace and name — a new object, a new UID — must not get the data
// back by itself; the documented handover (docs/OPERATOR.md) gives it.
func TestARecreatedAppDoesNotInheritRetainedDataUntilHandedOver(t *testing.T) {
	ctx := context.Background()
	n := names("reborn")
	old := database.Owner{Namespace: "shop", Name: "reborn", UID: "uid-old"}
	if _, err := prov.Ensure(ctx, n, old, "reborn-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := connectAs(t, n, "reborn-password-1").Exec(ctx, "CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('old tenant data')"); err != nil {
		t.Fatal(err)
	}
	if err := prov.Remove(ctx, n, old, true); err != nil {
		t.Fatal(err)
	}
	reborn := database.Owner{Namespace: "shop", Name: "reborn", UID: "uid-new"}
	_, err := prov.Ensure(ctx, n, reborn, "reborn-password-2")
	if !errors.Is(err, database.ErrConflict) {
		t.Fatalf("a new app of the same name got the retained schema: err = %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "docs/OPERATOR.md") {
		t.Errorf("the conflict does not say how to hand the data over: %v", err)
	}
	if err := login(n, "reborn-password-2"); err == nil {
		t.Fatal("the new app can log in to the retained role")
	}
	// The other way to ask: a Rotate (a missing Secret) is refused too.
	if err := prov.Rotate(ctx, n, reborn, "reborn-password-3"); !errors.Is(err, database.ErrConflict) {
		t.Fatalf("Rotate: err = %v, want ErrConflict", err)
	}

	// The platform team hands the data over, as docs/OPERATOR.md says.
	if _, err := admin(t).Exec(ctx, "UPDATE plattr_operator.owners SET uid = 'uid-new' WHERE namespace = 'shop' AND app = 'reborn' AND uid = 'uid-old'"); err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Ensure(ctx, n, reborn, "reborn-password-2"); err != nil {
		t.Fatalf("Ensure after the handover: %v", err)
	}
	var v string
	if err := connectAs(t, n, "reborn-password-2").QueryRow(ctx, "SELECT v FROM secrets").Scan(&v); err != nil || v != "old tenant data" {
		t.Fatalf("the handed-over data: %q %v", v, err)
	}
	// The old owner no longer owns it.
	if err := prov.Remove(ctx, n, old, false); err != nil {
		t.Fatal(err)
	}
	if schemaOwner(t, n.Schema) == "" {
		t.Error("the old owner's Remove dropped the handed-over schema")
	}
}

// (e) The anon role was granted to the app role without any ownership
// check: an app whose anon role's name is another app's got that app's
// anonymous read access.
func TestAnotherAppsAnonRoleIsNeverGrantedToAnApp(t *testing.T) {
	ctx := context.Background()
	first := naming.Database{Schema: "staging_anonfirst", AppRole: "staging_anonfirst_app", AnonRole: "staging_anonshared_anon"}
	if _, err := prov.Ensure(ctx, first, database.Owner{Namespace: "a", Name: "anonfirst", UID: "uid-af"}, "af-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := connectAs(t, first, "af-password-1").Exec(ctx, "CREATE TABLE private (v text); INSERT INTO private VALUES ('first app data')"); err != nil {
		t.Fatal(err)
	}
	second := naming.Database{Schema: "staging_anonsecond", AppRole: "staging_anonsecond_app", AnonRole: "staging_anonshared_anon"}
	_, err := prov.Ensure(ctx, second, database.Owner{Namespace: "b", Name: "anonsecond", UID: "uid-as"}, "as-password-1")
	if !errors.Is(err, database.ErrConflict) {
		t.Errorf("Ensure with another app's anon role: err = %v, want ErrConflict", err)
	}
	if isMember(t, second.AppRole, first.AnonRole) {
		var v string
		conn := connectAs(t, second, "as-password-1")
		_, rerr := conn.Exec(ctx, "SET ROLE staging_anonshared_anon")
		if rerr == nil {
			rerr = conn.QueryRow(ctx, "SELECT v FROM staging_anonfirst.private").Scan(&v)
		}
		t.Errorf("the second app was granted the first app's anon role (read %q, err=%v)", v, rerr)
	}
	// A role of that name made by hand (not by Plattr) is not granted either.
	if _, err := admin(t).Exec(ctx, "CREATE ROLE staging_handmade_anon NOLOGIN"); err != nil {
		t.Fatal(err)
	}
	third := naming.Database{Schema: "staging_anonthird", AppRole: "staging_anonthird_app", AnonRole: "staging_handmade_anon"}
	if _, err := prov.Ensure(ctx, third, database.Owner{Namespace: "c", Name: "anonthird", UID: "uid-at"}, "at-password-1"); !errors.Is(err, database.ErrConflict) {
		t.Errorf("Ensure with a hand-made anon role: err = %v, want ErrConflict", err)
	}
	if isMember(t, third.AppRole, third.AnonRole) {
		t.Error("a hand-made role was granted to the app")
	}
}

// Migration: objects an earlier version made carry only comment markers.
// A live app's are adopted on first sight (the row is written); a retained
// app's (its role cannot log in) and a forged one's are not.
func TestObjectsOfEarlierVersionsAreAdoptedOnlyWhenTheCatalogAgrees(t *testing.T) {
	ctx := context.Background()
	forget := func(n naming.Database) {
		t.Helper()
		if _, err := admin(t).Exec(ctx, "DELETE FROM plattr_operator.owners WHERE name IN ($1, $2, $3)", n.Schema, n.AppRole, n.AnonRole); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(n naming.Database) int {
		var c int
		_ = admin(t).QueryRow(ctx, "SELECT count(*) FROM plattr_operator.owners WHERE name IN ($1, $2, $3)", n.Schema, n.AppRole, n.AnonRole).Scan(&c)
		return c
	}

	// A live app of an earlier version: adopted, with its UID.
	live, liveOwner := names("legacylive"), database.Owner{Namespace: "ns", Name: "legacylive", UID: "uid-ll"}
	if _, err := prov.Ensure(ctx, live, liveOwner, "ll-password-1"); err != nil {
		t.Fatal(err)
	}
	forget(live)
	if change, err := prov.Ensure(ctx, live, liveOwner, "ll-password-1"); err != nil || !change.Changed {
		t.Fatalf("adopting a live app's objects: %+v err=%v", change, err)
	}
	if rows(live) != 3 {
		t.Errorf("%d ownership rows after adoption, want 3", rows(live))
	}
	if change, err := prov.Ensure(ctx, live, liveOwner, "ll-password-1"); err != nil || change.Changed {
		t.Errorf("Ensure after adoption: %+v err=%v, want no change", change, err)
	}

	// A retained app of an earlier version: its role cannot log in.
	kept := names("legacykept")
	if _, err := prov.Ensure(ctx, kept, database.Owner{Namespace: "ns", Name: "legacykept", UID: "uid-lk"}, "lk-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin(t).Exec(ctx, fmt.Sprintf("ALTER ROLE %s NOLOGIN", q(kept.AppRole))); err != nil {
		t.Fatal(err)
	}
	forget(kept)
	if _, err := prov.Ensure(ctx, kept, database.Owner{Namespace: "ns", Name: "legacykept", UID: "uid-lk2"}, "lk-password-2"); !errors.Is(err, database.ErrConflict) {
		t.Errorf("a new app adopted an earlier version's retained objects: err = %v, want ErrConflict", err)
	}

	// A forged marker of an earlier version: the schema is not the app role's.
	forgedBy := naming.Database{Schema: "staging_legacyforged", AppRole: "staging_legacyforger_app", AnonRole: "staging_legacyforger_anon"}
	if _, err := prov.Ensure(ctx, forgedBy, database.Owner{Namespace: "x", Name: "legacyforger", UID: "uid-lf"}, "lf-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := connectAs(t, forgedBy, "lf-password-1").Exec(ctx, "COMMENT ON SCHEMA staging_legacyforged IS 'plattr:app=y/legacyvictim'"); err != nil {
		t.Fatal(err)
	}
	forget(forgedBy)
	victim := naming.Database{Schema: "staging_legacyforged", AppRole: "staging_legacyvictim_app", AnonRole: "staging_legacyvictim_anon"}
	if _, err := prov.Ensure(ctx, victim, database.Owner{Namespace: "y", Name: "legacyvictim", UID: "uid-lv"}, "lv-password-1"); !errors.Is(err, database.ErrConflict) {
		t.Errorf("a forged earlier-version marker was adopted: err = %v, want ErrConflict", err)
	}
}

// An operator restart (a new Provisioner on the same server) keeps every
// ownership: the records are in the database, not in memory.
func TestOwnershipSurvivesANewProvisioner(t *testing.T) {
	ctx := context.Background()
	n, owner := names("restart"), database.Owner{Namespace: "ns", Name: "restart", UID: "uid-restart"}
	if _, err := prov.Ensure(ctx, n, owner, "restart-password-1"); err != nil {
		t.Fatal(err)
	}
	again, err := database.New(ctx, pg.URL(), "", database.Options{ConnectionLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if change, err := again.Ensure(ctx, n, owner, "restart-password-1"); err != nil || change.Changed {
		t.Errorf("after a restart: %+v err=%v, want no change", change, err)
	}
	if _, err := again.Ensure(ctx, n, database.Owner{Namespace: "ns", Name: "restart", UID: "uid-other"}, "restart-password-1"); !errors.Is(err, database.ErrConflict) {
		t.Errorf("after a restart another UID: err = %v, want ErrConflict", err)
	}
}

// (b) Once tenant shop exists, a shared-namespace app cannot even create
// schema staging_shop_web (its schemaName "shop_web") — nor roles under
// the tenant's prefix — while an app whose objects exist keeps them.
func TestNamesUnderAnotherTenantsPrefixAreNotCreated(t *testing.T) {
	ctx := context.Background()
	reserved := naming.ReservedPrefixes("staging", "", []string{"shopx"})
	squat := naming.Database{Schema: naming.Identifier("staging", "shopx_web"), AppRole: "staging_sqx_app", AnonRole: "staging_sqx_anon"}
	_, err := prov.Ensure(ctx, squat, database.Owner{Namespace: "default", Name: "sqx", UID: "uid-sqx", Reserved: reserved}, "sqx-password-1")
	if !errors.Is(err, database.ErrConflict) || !strings.Contains(err.Error(), "spec.database.schemaName") {
		t.Fatalf("a shared app's schema under tenant shopx's prefix: err = %v, want ErrConflict naming spec.database.schemaName", err)
	}
	if schemaOwner(t, squat.Schema) != "" {
		t.Fatal("the schema was created")
	}
	roles := naming.Database{Schema: "staging_sqy", AppRole: naming.Identifier("staging", "shopx-web", "app"), AnonRole: naming.Identifier("staging", "shopx-web", "anon")}
	if _, err := prov.Ensure(ctx, roles, database.Owner{Namespace: "default", Name: "shopx-web", UID: "uid-sqy", Reserved: reserved}, "sqy-password-1"); !errors.Is(err, database.ErrConflict) || !strings.Contains(err.Error(), "metadata.name") {
		t.Fatalf("a shared app's roles under tenant shopx's prefix: err = %v, want ErrConflict naming metadata.name", err)
	}
	// The tenant's own app gets the name.
	tenantApp := naming.Database{Schema: naming.Identifier("staging", "shopx", "web"), AppRole: naming.Identifier("staging", "shopx", "web", "app"), AnonRole: naming.Identifier("staging", "shopx", "web", "anon")}
	if _, err := prov.Ensure(ctx, tenantApp, database.Owner{Namespace: "shopx-staging", Name: "web", UID: "uid-sxw", Reserved: naming.ReservedPrefixes("staging", "shopx", []string{"shopx"})}, "sxw-password-1"); err != nil {
		t.Fatalf("the tenant's own app: %v", err)
	}
	// An app made before the tenant existed keeps what it has.
	early := naming.Database{Schema: naming.Identifier("staging", "shopz_web"), AppRole: "staging_early_app", AnonRole: "staging_early_anon"}
	earlyOwner := database.Owner{Namespace: "default", Name: "early", UID: "uid-early"}
	if _, err := prov.Ensure(ctx, early, earlyOwner, "early-password-1"); err != nil {
		t.Fatal(err)
	}
	earlyOwner.Reserved = naming.ReservedPrefixes("staging", "", []string{"shopz"})
	if change, err := prov.Ensure(ctx, early, earlyOwner, "early-password-1"); err != nil || change.Changed {
		t.Fatalf("an existing app after the tenant appeared: %+v err=%v, want no change", change, err)
	}
}
