package database

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/plattr/plattr/internal/naming"
)

// Who owns a schema or role is recorded where no app can write: the table
// plattr_operator.owners, owned by the admin and granted to nobody. The
// comments on the objects (the marker) are informational only: an app role
// owns its schema and may rewrite its comment (issue 17, defect 6). A row
// names the Application by namespace, name and UID, so an app deleted with
// Retain and re-created under the same name — a new object, a new UID —
// does not get the kept data back by itself (defect 7); a platform admin
// hands it over by updating the rows (docs/OPERATOR.md).

// OwnersTable is the ownership records' table.
const OwnersTable = "plattr_operator.owners"

const ownersDDL = `
CREATE SCHEMA IF NOT EXISTS plattr_operator;
REVOKE ALL ON SCHEMA plattr_operator FROM PUBLIC;
CREATE TABLE IF NOT EXISTS plattr_operator.owners (
  kind        text NOT NULL CHECK (kind IN ('schema', 'role')),
  name        text NOT NULL,
  namespace   text NOT NULL,
  app         text NOT NULL,
  uid         text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (kind, name)
);
REVOKE ALL ON plattr_operator.owners FROM PUBLIC;
COMMENT ON TABLE plattr_operator.owners IS 'Plattr: which Application (namespace, name, uid) owns each schema and role; see docs/OPERATOR.md before changing';`

// ownersLock is the advisory lock key serialising the table's creation by
// several operators ("owners" in ASCII).
const ownersLock = 0x6f776e657273

// ownersTable creates the table once per process, on first use; a failure
// is retried on the next call.
type ownersTable struct {
	mu   sync.Mutex
	done bool
}

func (p *Provisioner) ensureOwnersTable(ctx context.Context) error {
	p.owners.mu.Lock()
	defer p.owners.mu.Unlock()
	if p.owners.done {
		return nil
	}
	var exists bool
	if err := p.pool.QueryRow(ctx, "SELECT to_regclass('plattr_operator.owners') IS NOT NULL").Scan(&exists); err != nil {
		return p.noteAuth(err)
	}
	if !exists {
		err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", ownersLock)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, ownersDDL)
			return err
		})
		if err != nil {
			return fmt.Errorf("creating the ownership table %s: %w", OwnersTable, err)
		}
	}
	p.owners.done = true
	return nil
}

// record is one row of the table: the app that owns an object.
type record struct{ Namespace, App, UID string }

func recordOf(cols []string) *record {
	if len(cols) != 3 {
		return nil
	}
	return &record{Namespace: cols[0], App: cols[1], UID: cols[2]}
}

func (r *record) is(o Owner) bool {
	return r != nil && r.Namespace == o.Namespace && r.App == o.Name && r.UID == o.UID
}

// claim is what the catalog and the records say of one object for an owner.
type claim int

const (
	absent  claim = iota // the object does not exist: it may be made (a stale row is replaced)
	ours                 // its row names the owner
	adopted              // no row, but an earlier version made it for the owner: the row is written now
	theirs               // another owner's, or not Plattr's
)

func (c claim) mine() bool { return c == ours || c == adopted }

// claims decides, for each of the app's objects, whom it belongs to. An
// object without a row is adopted only when everything an earlier version
// left agrees and none of it is the app's own to forge: the login role's
// comment (only a role with CREATEROLE may comment on a role) says the
// owner and the role can still log in (a role kept by the Retain policy
// cannot: its data is not adopted by a new app of the same name); the
// schema's comment says the owner and its owner in the catalog (nspowner)
// is that login role; the anon role's comment says the owner.
func (s state) claims(n naming.Database, o Owner) (schema, app, anon claim) {
	app = s.claimRole(s.appRoleExists, s.appRow, s.appRoleMarker == o.marker() && s.appCanLogin, o)
	legacyApp := app.mine()
	schema = absent
	if s.schemaExists {
		schema = theirs
		switch {
		case s.schemaRow != nil:
			if s.schemaRow.is(o) {
				schema = ours
			}
		case legacyApp && s.schemaMarker == o.marker() && s.schemaOwner == n.AppRole:
			schema = adopted
		}
	}
	anon = s.claimRole(s.anonRoleExists, s.anonRow, legacyApp && s.anonRoleMarker == o.marker(), o)
	return schema, app, anon
}

func (s state) claimRole(exists bool, row *record, legacy bool, o Owner) claim {
	switch {
	case !exists:
		return absent
	case row != nil && row.is(o):
		return ours
	case row == nil && legacy:
		return adopted
	default:
		return theirs
	}
}

// checkOwner fails with ErrConflict when any object is another's, saying
// whose and what to do, or is still to be made under another tenant's
// prefix.
func (s state) checkOwner(n naming.Database, o Owner) error {
	schema, app, anon := s.claims(n, o)
	if p := naming.ReservedBy(n.Schema, o.Reserved); schema == absent && p != "" {
		return fmt.Errorf("schema %q: %w: names starting %q are another tenant's; set spec.database.schemaName (or the app's name) so the schema does not start with it", n.Schema, ErrConflict, p)
	}
	for _, r := range []struct {
		name, suffix string
		exists       bool
	}{{n.AppRole, "app", app != absent}, {n.AnonRole, "anon", anon != absent}} {
		role := r.name
		if p := naming.RoleReservedBy(role, r.suffix, o.Reserved); !r.exists && p != "" {
			return fmt.Errorf("role %q: %w: names starting %q are another tenant's; rename the app (metadata.name) so its roles do not start with it", role, ErrConflict, p)
		}
	}
	if schema == theirs {
		return fmt.Errorf("schema %q: %w (%s); set spec.database.schemaName to another name", n.Schema, ErrConflict, whose(s.schemaRow, s.schemaMarker, o))
	}
	if app == theirs {
		return fmt.Errorf("role %q: %w (%s); rename the app or use another environment", n.AppRole, ErrConflict, whose(s.appRow, s.appRoleMarker, o))
	}
	if anon == theirs {
		return fmt.Errorf("role %q: %w (%s); rename the app or use another environment", n.AnonRole, ErrConflict, whose(s.anonRow, s.anonRoleMarker, o))
	}
	return nil
}

// whose explains a conflict.
func whose(row *record, marker string, o Owner) string {
	const handover = "a platform admin hands it over as docs/OPERATOR.md “Handing retained data to a new owner” says, or drops it"
	switch {
	case row != nil && row.Namespace == o.Namespace && row.App == o.Name:
		return fmt.Sprintf("it was kept from an earlier Application %s/%s (uid %s), not this one (uid %s); %s", row.Namespace, row.App, row.UID, o.UID, handover)
	case row != nil:
		return fmt.Sprintf("it belongs to %s/%s", row.Namespace, row.App)
	case marker == o.marker():
		return "an earlier version of Plattr made it for an app of this name that no longer runs (its login role cannot log in, or the schema is not that role's); " + handover
	}
	if app, ok := strings.CutPrefix(marker, "plattr:app="); ok {
		return "its comment says " + app + ", but Plattr has no record of it"
	}
	return "it was not created by Plattr"
}

// recordStatements writes the rows of the objects that are, or are about
// to be, the owner's and have none yet (or a stale one, of an object gone).
// Only after checkOwner: it would overwrite another owner's rows.
func (s state) recordStatements(n naming.Database, o Owner) []string {
	return s.writeRows(n, o, func(c claim) bool { return c != ours })
}

// adoptStatements writes the rows of the objects adopted from an earlier
// version, and nothing else.
func (s state) adoptStatements(n naming.Database, o Owner) []string {
	return s.writeRows(n, o, func(c claim) bool { return c == adopted })
}

func (s state) writeRows(n naming.Database, o Owner, write func(claim) bool) []string {
	schema, app, anon := s.claims(n, o)
	var out []string
	add := func(c claim, kind, name string) {
		if !write(c) {
			return
		}
		out = append(out, fmt.Sprintf(`INSERT INTO plattr_operator.owners (kind, name, namespace, app, uid) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (kind, name) DO UPDATE SET namespace = EXCLUDED.namespace, app = EXCLUDED.app, uid = EXCLUDED.uid, recorded_at = now()`,
			literal(kind), literal(name), literal(o.Namespace), literal(o.Name), literal(o.UID)))
	}
	add(schema, "schema", n.Schema)
	add(app, "role", n.AppRole)
	add(anon, "role", n.AnonRole)
	return out
}

// recorded says whether every object has its row.
func (s state) recorded(n naming.Database, o Owner) bool {
	schema, app, anon := s.claims(n, o)
	return schema == ours && app == ours && anon == ours
}

func forgetStatement(kind, name string) string {
	return fmt.Sprintf("DELETE FROM plattr_operator.owners WHERE kind = %s AND name = %s", literal(kind), literal(name))
}
