// Package database provisions an app's PostgreSQL schema and roles through
// the platform's admin connection. Every step first reads the catalog and
// writes only what is missing, so a reconcile of a provisioned app runs no
// DDL, and an app role's password changes only when Rotate is called.
package database

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plattr/plattr/internal/metrics"
	"github.com/plattr/plattr/internal/naming"
)

// ErrConflict means a schema or role already belongs to another app.
var ErrConflict = errors.New("owned by another application")

// Provisioner creates, rotates and removes apps' schemas and roles.
type Provisioner struct {
	pool *pgxpool.Pool
	opts Options
	// Connection facts written into app Secrets.
	host, port, dbname, sslmode string
	// adminHost is where the operator itself reaches the server, for
	// checking an app's password by logging in when the catalog cannot say.
	adminHost string
	// owners creates the ownership table on first use (owners.go).
	owners ownersTable
}

// Options tune what every app gets.
type Options struct {
	// ConnectionLimit is each app role's CONNECTION LIMIT; -1 for none.
	ConnectionLimit int
	// Credentials, when set, gives the admin user and password for each
	// new connection (AWS Secrets Manager), instead of the URL's.
	Credentials func(context.Context) (user, password string, err error)
	// AuthFailed is called when the server refuses the admin credentials,
	// so Credentials reads them again: they have probably been rotated.
	AuthFailed func()
	// ConnectTimeout bounds opening a connection (TCP, TLS, startup and
	// authentication) when the URL sets no connect_timeout; zero: 10 s.
	// Without it a server that accepts and never answers hangs the caller.
	ConnectTimeout time.Duration
	// MaxConns sizes the admin pool: as many as the operator runs
	// reconciles at once, so none waits for a connection; zero: 10.
	MaxConns int32
}

// sharedACLLock is the advisory lock key serialising changes of the
// database's and schema public's ACLs ("plattr" in ASCII).
const sharedACLLock = 0x706c61747472

// Timeouts of the operator's own statements: a lock held by an app (a long
// transaction on its schema) must fail a reconcile, which retries, rather
// than hang it.
const (
	adminLockTimeout      = "5s"
	adminStatementTimeout = "30s"
)

// New connects lazily to adminURL. appHost, when set, replaces the admin
// URL's host in the credentials handed to apps (DB_HOST, docs/OPERATOR.md).
func New(ctx context.Context, adminURL, appHost string, opts Options) (*Provisioner, error) {
	cfg, err := pgxpool.ParseConfig(adminURL)
	if err != nil {
		// The parse error can quote the URL, password included: never pass it on.
		return nil, errors.New("DB_ADMIN_URL is not a valid PostgreSQL URL (want postgres://user:password@host:port/db)")
	}
	// As many as the operator runs reconciles at once (Options.MaxConns),
	// so none waits for a connection.
	cfg.MaxConns = cmp.Or(opts.MaxConns, 10)
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = adminLockTimeout
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = adminStatementTimeout
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = cmp.Or(opts.ConnectTimeout, 10*time.Second)
	}
	if opts.ConnectionLimit == 0 {
		opts.ConnectionLimit = -1
	}
	if creds := opts.Credentials; creds != nil {
		// Open connections keep working after a rotation; new ones use the
		// credentials current when they are made.
		cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
			user, password, err := creds(ctx)
			if err != nil {
				return err
			}
			cc.User, cc.Password = user, password
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the admin connection pool: %w", err)
	}
	p := &Provisioner{
		pool:      pool,
		opts:      opts,
		adminHost: cfg.ConnConfig.Host,
		host:      cfg.ConnConfig.Host,
		port:      fmt.Sprint(cfg.ConnConfig.Port),
		dbname:    cfg.ConnConfig.Database,
	}
	if u, err := url.Parse(adminURL); err == nil {
		p.sslmode = u.Query().Get("sslmode")
	}
	if appHost != "" {
		p.host = appHost
	}
	return p, nil
}

// Close releases the admin connections.
func (p *Provisioner) Close() { p.pool.Close() }

// Ping checks the admin connection.
func (p *Provisioner) Ping(ctx context.Context) error {
	defer metrics.TimeCall(metrics.BackendDatabase, "ping")()
	return p.noteAuth(p.pool.Ping(ctx))
}

// noteAuth tells Options.AuthFailed when err is the server refusing the
// admin credentials (SQLSTATE 28P01 or 28000), and returns err.
func (p *Provisioner) noteAuth(err error) error {
	var pgErr *pgconn.PgError
	if p.opts.AuthFailed != nil && errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
		p.opts.AuthFailed()
	}
	return err
}

// Owner identifies the app a schema and its roles belong to. It is recorded
// in the ownership table (owners.go), so two apps never share one and an
// app re-created under the same name (a new UID) does not inherit the data
// an earlier one kept; the comment on each object is informational.
type Owner struct {
	Namespace, Name string
	// UID is the owning object's metadata.uid.
	UID string
	// Reserved are identifier prefixes of other tenants' names
	// (naming.ReservedPrefixes): a schema or role not made yet is not made
	// under them, so an app cannot take a name before its owner exists.
	Reserved []string
}

func (o Owner) marker() string { return "plattr:app=" + o.Namespace + "/" + o.Name }

// state is what the catalog says about an app's objects.
type state struct {
	schemaExists, appRoleExists, anonRoleExists bool
	schemaMarker, appRoleMarker, anonRoleMarker string
	schemaOwner                                 string  // the schema's owner in the catalog (nspowner)
	schemaRow, appRow, anonRow                  *record // the ownership table's rows; nil for none
	appCanLogin, searchPathSet, anonGranted     bool
	anonUsage, defaultSelect, adminIsMember     bool
	adminIsSuper                                bool

	database       string // current_database(), for GRANT … ON DATABASE
	appConnLimit   int    // the app role's CONNECTION LIMIT, -1 for none
	appConnect     bool   // CONNECT granted to the app role by name
	funcsPrivate   bool   // the app role's new functions are not executable by PUBLIC
	publicCreate   bool   // PUBLIC may create objects in schema public
	publicConnect  bool   // PUBLIC may connect to the database
	passwordStored string // the app role's verifier; read only as a superuser
}

func (s state) complete(connLimit int) bool {
	return s.schemaExists && s.appRoleExists && s.anonRoleExists && s.appCanLogin &&
		s.searchPathSet && s.anonGranted && s.anonUsage && s.defaultSelect &&
		s.appConnLimit == connLimit && s.appConnect && s.funcsPrivate && !s.publicCreate && !s.publicConnect
}

func (p *Provisioner) read(ctx context.Context, n naming.Database) (state, error) {
	defer metrics.TimeStep(metrics.BackendDatabase, "catalog_read")()
	var s state
	if err := p.ensureOwnersTable(ctx); err != nil {
		return s, err
	}
	var schemaRow, appRow, anonRow []string
	err := p.pool.QueryRow(ctx, `
SELECT
  EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
  COALESCE((SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1), ''),
  EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2),
  COALESCE((SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $2), ''),
  COALESCE((SELECT rolcanlogin FROM pg_roles WHERE rolname = $2), false),
  COALESCE((SELECT 'search_path=' || quote_ident($1) = ANY(rolconfig) FROM pg_roles WHERE rolname = $2), false),
  EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $3),
  EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
          WHERE r.rolname = $3 AND u.rolname = $2),
  COALESCE((SELECT has_schema_privilege($3, $1, 'USAGE') FROM pg_roles WHERE rolname = $3 AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)), false),
  EXISTS (SELECT 1 FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace JOIN pg_roles r ON r.oid = d.defaclrole
          WHERE n.nspname = $1 AND r.rolname = $2 AND d.defaclobjtype = 'r'
            AND EXISTS (SELECT 1 FROM aclexplode(d.defaclacl) a JOIN pg_roles g ON g.oid = a.grantee WHERE g.rolname = $3 AND a.privilege_type = 'SELECT')),
  COALESCE((SELECT pg_has_role(current_user, $2, 'MEMBER') FROM pg_roles WHERE rolname = $2), false),
  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
  current_database(),
  COALESCE((SELECT rolconnlimit FROM pg_roles WHERE rolname = $2), -1),
  EXISTS (SELECT 1 FROM pg_database d, aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a JOIN pg_roles r ON r.oid = a.grantee
          WHERE d.datname = current_database() AND r.rolname = $2 AND a.privilege_type = 'CONNECT'),
  EXISTS (SELECT 1 FROM pg_default_acl d JOIN pg_roles r ON r.oid = d.defaclrole
          WHERE r.rolname = $2 AND d.defaclnamespace = 0 AND d.defaclobjtype = 'f'
            AND NOT EXISTS (SELECT 1 FROM aclexplode(d.defaclacl) a WHERE a.grantee = 0)),
  EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(COALESCE(n.nspacl, acldefault('n', n.nspowner))) a
          WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE'),
  EXISTS (SELECT 1 FROM pg_database d, aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
          WHERE d.datname = current_database() AND a.grantee = 0 AND a.privilege_type = 'CONNECT'),
  COALESCE((SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $3), ''),
  COALESCE((SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = $1), ''),
  (SELECT ARRAY[namespace, app, uid] FROM plattr_operator.owners WHERE kind = 'schema' AND name = $1),
  (SELECT ARRAY[namespace, app, uid] FROM plattr_operator.owners WHERE kind = 'role' AND name = $2),
  (SELECT ARRAY[namespace, app, uid] FROM plattr_operator.owners WHERE kind = 'role' AND name = $3)
`, n.Schema, n.AppRole, n.AnonRole).Scan(
		&s.schemaExists, &s.schemaMarker, &s.appRoleExists, &s.appRoleMarker, &s.appCanLogin,
		&s.searchPathSet, &s.anonRoleExists, &s.anonGranted, &s.anonUsage, &s.defaultSelect,
		&s.adminIsMember, &s.adminIsSuper, &s.database, &s.appConnLimit, &s.appConnect,
		&s.funcsPrivate, &s.publicCreate, &s.publicConnect,
		&s.anonRoleMarker, &s.schemaOwner, &schemaRow, &appRow, &anonRow)
	s.schemaRow, s.appRow, s.anonRow = recordOf(schemaRow), recordOf(appRow), recordOf(anonRow)
	if err != nil || !s.adminIsSuper || !s.appRoleExists {
		// Every reconcile reads the catalog first: where a rotated admin
		// password shows.
		return s, p.noteAuth(err)
	}
	// Only a superuser may read verifiers; others check by logging in.
	err = p.pool.QueryRow(ctx, "SELECT COALESCE(rolpassword, '') FROM pg_authid WHERE rolname = $1", n.AppRole).Scan(&s.passwordStored)
	return s, err
}

// Ensure makes the schema, the login role, the anon role, the grants and
// the database's hardening exist, and the login role's password equal
// password — the app's Secret is the source of truth. A role whose password
// drifted (a restored backup, a DBA's ALTER ROLE) gets it back; a role that
// already has it is not touched, so a reconcile of a provisioned app writes
// nothing. It reports what it changed.
func (p *Provisioner) Ensure(ctx context.Context, n naming.Database, o Owner, password string) (Change, error) {
	defer metrics.TimeCall(metrics.BackendDatabase, "ensure")()
	s, err := p.read(ctx, n)
	if err != nil {
		return Change{}, err
	}
	if err := s.checkOwner(n, o); err != nil {
		return Change{}, err
	}
	drifted := false
	if s.appRoleExists && s.appCanLogin {
		if drifted, err = p.passwordDrifted(ctx, n, s, password); err != nil {
			return Change{}, err
		}
	}
	if s.complete(p.opts.ConnectionLimit) && s.recorded(n, o) && !drifted {
		return Change{}, nil
	}
	if drifted {
		s.appCanLogin = false // forces the password to be set again
	}
	return Change{Changed: true, PasswordRestored: drifted}, p.apply(ctx, n, o, s, password)
}

// Change says what Ensure did.
type Change struct {
	Changed bool
	// PasswordRestored: the role's password no longer matched and was set
	// back to the given one.
	PasswordRestored bool
}

// passwordDrifted reports whether the login role's password is not
// password: from the stored verifier when the admin may read it, else by
// logging in as the app. A login that fails for another reason than the
// password (the server's pg_hba.conf, the network) says nothing, so it does
// not count as drift.
func (p *Provisioner) passwordDrifted(ctx context.Context, n naming.Database, s state, password string) (bool, error) {
	defer metrics.TimeStep(metrics.BackendDatabase, "password_check")()
	if s.adminIsSuper {
		return !scramMatches(s.passwordStored, password), nil
	}
	info := p.Connection(n, password)
	cfg, err := pgx.ParseConfig(info.URL)
	if err != nil {
		return false, errors.New("building the app's connection settings failed")
	}
	cfg.Host = p.adminHost
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return false, conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "28P01", nil // invalid_password
}

// Rotate sets a new password on the login role, creating everything else
// that is missing. Callers write the new password to the app's Secret only
// after Rotate succeeds, so a failure leaves the old pair intact.
func (p *Provisioner) Rotate(ctx context.Context, n naming.Database, o Owner, password string) error {
	defer metrics.TimeCall(metrics.BackendDatabase, "rotate")()
	s, err := p.read(ctx, n)
	if err != nil {
		return err
	}
	if err := s.checkOwner(n, o); err != nil {
		return err
	}
	s.appCanLogin = false // forces the password to be set
	return p.apply(ctx, n, o, s, password)
}

// apply runs, in one transaction, the statements for whatever s says is
// missing. Passwords are sent as SCRAM verifiers, never in clear text.
func (p *Provisioner) apply(ctx context.Context, n naming.Database, o Owner, s state, password string) error {
	schema, app, anon, db := q(n.Schema), q(n.AppRole), q(n.AnonRole), q(s.database)
	var stmts []string
	add := func(format string, args ...any) { stmts = append(stmts, fmt.Sprintf(format, args...)) }
	verifier := func() (string, error) { return scramVerifier(password) }

	// The database itself: nobody may create in schema public or connect
	// without being granted CONNECT by name (PostgreSQL 15 already does
	// the first; older servers and restored dumps may not). These change
	// one shared catalog row each, which concurrent transactions cannot
	// (“tuple concurrently updated”): they run after the app's own
	// statements, in a short transaction of their own that takes turns with
	// other reconciles through an advisory lock.
	var shared []string
	if s.publicCreate {
		shared = append(shared, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
	}
	if s.publicConnect {
		shared = append(shared, fmt.Sprintf("REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM PUBLIC", db))
	}
	if !s.appConnect {
		shared = append(shared, fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", db, app))
	}
	if !s.appRoleExists {
		v, err := verifier()
		if err != nil {
			return err
		}
		add("CREATE ROLE %s WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT %d PASSWORD %s", app, p.opts.ConnectionLimit, literal(v))
		add("COMMENT ON ROLE %s IS %s", app, literal(o.marker()))
	} else {
		if !s.appCanLogin {
			v, err := verifier()
			if err != nil {
				return err
			}
			add("ALTER ROLE %s WITH LOGIN PASSWORD %s", app, literal(v))
		}
		if s.appConnLimit != p.opts.ConnectionLimit {
			add("ALTER ROLE %s WITH CONNECTION LIMIT %d", app, p.opts.ConnectionLimit)
		}
	}
	if !s.adminIsSuper && !s.adminIsMember {
		// A non-superuser admin needs membership to create a schema owned by the
		// app role and to set that role's default privileges.
		add("GRANT %s TO CURRENT_USER", app)
	}
	if !s.searchPathSet {
		add("ALTER ROLE %s SET search_path = %s", app, schema)
	}
	if !s.anonRoleExists {
		add("CREATE ROLE %s WITH NOLOGIN", anon)
		add("COMMENT ON ROLE %s IS %s", anon, literal(o.marker()))
	}
	if !s.anonGranted {
		// PostgREST logs in as the app role and switches to anon.
		add("GRANT %s TO %s", anon, app)
	}
	if !s.schemaExists {
		add("CREATE SCHEMA %s AUTHORIZATION %s", schema, app)
		add("COMMENT ON SCHEMA %s IS %s", schema, literal(o.marker()))
	}
	if !s.anonUsage {
		add("GRANT USAGE ON SCHEMA %s TO %s", schema, anon)
	}
	if !s.defaultSelect {
		add("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT SELECT ON TABLES TO %s", app, schema, anon)
	}
	if !s.funcsPrivate {
		// PostgreSQL lets PUBLIC execute every new function, and PostgREST's
		// /rpc would run them — SECURITY DEFINER ones included — for
		// anonymous callers. Per-schema defaults cannot take away a global
		// grant, so this is the role's global default. An app grants
		// EXECUTE to its anon role for the functions anyone may call.
		add("ALTER DEFAULT PRIVILEGES FOR ROLE %s REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC", app)
	}
	// The ownership rows go in the same transaction as the objects.
	stmts = append(stmts, s.recordStatements(n, o)...)
	if err := p.execAll(ctx, stmts); err != nil {
		return err
	}
	return p.execShared(ctx, shared...)
}

// execShared runs statements that change the database's or schema public's
// ACL — one shared catalog row each, which concurrent transactions cannot
// change (“tuple concurrently updated”) — in a short transaction that takes
// turns with the other reconciles through an advisory lock.
func (p *Provisioner) execShared(ctx context.Context, stmts ...string) error {
	if len(stmts) == 0 {
		return nil
	}
	// Timed apart from the app's own transaction: here reconciles queue
	// behind one another for the lock.
	defer metrics.TimeStep(metrics.BackendDatabase, "shared_acl_transaction")()
	return p.transaction(ctx, append([]string{fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", sharedACLLock)}, stmts...))
}

// execAll runs statements in one transaction: all or nothing.
func (p *Provisioner) execAll(ctx context.Context, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	defer metrics.TimeStep(metrics.BackendDatabase, "transaction")()
	return p.transaction(ctx, stmts)
}

func (p *Provisioner) transaction(ctx context.Context, stmts []string) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", firstWords(stmt), err)
			}
		}
		return nil
	})
}

// Remove deletes the app's data (Delete policy) or only its ability to log in
// (Retain policy). Objects that belong to another app are left alone. The
// login goes first and the app's sessions are ended before anything is
// dropped: an idle-in-transaction session holding a lock on the schema
// would otherwise hang DROP SCHEMA (and the app's deletion) for good.
func (p *Provisioner) Remove(ctx context.Context, n naming.Database, o Owner, keepData bool) error {
	defer metrics.TimeCall(metrics.BackendDatabase, "remove")()
	s, err := p.read(ctx, n)
	if err != nil {
		return err
	}
	schemaClaim, appClaim, anonClaim := s.claims(n, o)
	appMine := appClaim.mine()
	if appMine {
		// Objects an earlier version made get their rows first, so what the
		// Retain policy keeps stays this owner's (and this UID's) on record.
		stmts := s.adoptStatements(n, o)
		if s.appCanLogin {
			stmts = append(stmts, fmt.Sprintf("ALTER ROLE %s WITH NOLOGIN", q(n.AppRole)))
		}
		if err := p.execAll(ctx, stmts); err != nil {
			return err
		}
	}
	if appMine {
		if _, err := p.pool.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", n.AppRole); err != nil {
			return fmt.Errorf("ending the app's sessions: %w", err)
		}
	}
	if keepData {
		return nil
	}
	if appMine && s.appConnect {
		// DROP OWNED BY would revoke this grant on the database's one shared
		// catalog row, which concurrent deletions cannot; it goes first, in
		// turn with the others.
		if err := p.execShared(ctx, fmt.Sprintf("REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM %s", q(s.database), q(n.AppRole))); err != nil {
			return err
		}
	}
	var stmts []string
	if schemaClaim.mine() {
		stmts = append(stmts, fmt.Sprintf("DROP SCHEMA %s CASCADE", q(n.Schema)), forgetStatement("schema", n.Schema))
	}
	if appMine {
		stmts = append(stmts, fmt.Sprintf("DROP OWNED BY %s", q(n.AppRole)), fmt.Sprintf("DROP ROLE %s", q(n.AppRole)), forgetStatement("role", n.AppRole))
	}
	if anonClaim.mine() {
		stmts = append(stmts, fmt.Sprintf("DROP OWNED BY %s", q(n.AnonRole)), fmt.Sprintf("DROP ROLE %s", q(n.AnonRole)), forgetStatement("role", n.AnonRole))
	}
	return p.execAll(ctx, stmts)
}

// ConnectionInfo is what an app receives in its Secret.
type ConnectionInfo struct {
	URL, Host, Port, Name, User, Password, Schema string
}

// Connection builds the app's connection details. The URL carries no
// search_path parameter: the role's own search_path selects the schema, so
// the URL works with every libpq-compatible client.
func (p *Provisioner) Connection(n naming.Database, password string) ConnectionInfo {
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(n.AppRole, password),
		Host:   net.JoinHostPort(p.host, p.port),
		Path:   "/" + p.dbname,
	}
	if p.sslmode != "" {
		u.RawQuery = url.Values{"sslmode": {p.sslmode}}.Encode()
	}
	return ConnectionInfo{
		URL: u.String(), Host: p.host, Port: p.port, Name: p.dbname,
		User: n.AppRole, Password: password, Schema: n.Schema,
	}
}

// NewPassword returns 32 random characters from [A-Za-z0-9], safe in a URL
// and in an SQL literal.
func NewPassword() (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b), nil
}

func q(id string) string { return naming.QuoteIdentifier(id) }

// literal quotes an SQL string literal. DDL such as CREATE ROLE … PASSWORD
// takes no bind parameters, so values are quoted here.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// firstWords names a failed statement in an error without its literals, so a
// password never reaches a log.
func firstWords(stmt string) string {
	f := strings.Fields(stmt)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}

// Observed is what one catalog query says of an app's objects, for the
// drift sweep.
type Observed struct {
	SchemaExists, RoleCanLogin bool
	// Verifier is the login role's stored password verifier; "" when the
	// admin is not a superuser and cannot read it.
	Verifier string
}

// Survey observes many apps' objects with one query, keyed by app role.
func (p *Provisioner) Survey(ctx context.Context, apps []naming.Database) (map[string]Observed, error) {
	defer metrics.TimeCall(metrics.BackendDatabase, "survey")()
	roles, schemas := make([]string, len(apps)), make([]string, len(apps))
	for i, n := range apps {
		roles[i], schemas[i] = n.AppRole, n.Schema
	}
	var super bool
	if err := p.pool.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		return nil, err
	}
	verifier := "''"
	if super {
		verifier = "COALESCE((SELECT rolpassword FROM pg_authid WHERE rolname = x.role), '')"
	}
	rows, err := p.pool.Query(ctx, `
SELECT x.role,
  EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = x.schema),
  COALESCE((SELECT rolcanlogin FROM pg_roles WHERE rolname = x.role), false),
  `+verifier+`
FROM unnest($1::text[], $2::text[]) AS x(role, schema)`, roles, schemas)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Observed, len(apps))
	for rows.Next() {
		var role string
		var o Observed
		if err := rows.Scan(&role, &o.SchemaExists, &o.RoleCanLogin, &o.Verifier); err != nil {
			return nil, err
		}
		out[role] = o
	}
	return out, rows.Err()
}

// PasswordMatches reports whether a stored verifier was made from password.
func (p *Provisioner) PasswordMatches(verifier, password string) bool {
	return scramMatches(verifier, password)
}
