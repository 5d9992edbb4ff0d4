-- The platform API's own data: who may do what, what was done, and the
-- change feed the event stream serves. Apps and tenants themselves live in
-- the cluster; this schema never copies their spec as the source of truth.

CREATE TABLE users (
  id            bigserial PRIMARY KEY,
  email         text NOT NULL UNIQUE,
  name          text NOT NULL DEFAULT '',
  site_admin    boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz
);

-- API tokens are stored as SHA-256 hashes; the token itself is shown once.
CREATE TABLE api_tokens (
  id           bigserial PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         text NOT NULL,
  hash         bytea NOT NULL UNIQUE,
  hint         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz
);

-- Browser sessions, also hashed; any replica can serve any session.
CREATE TABLE sessions (
  hash       bytea PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

-- A login in flight: the PKCE verifier and nonce wait here for the
-- callback, which may reach another replica.
CREATE TABLE login_states (
  state      text PRIMARY KEY,
  verifier   text NOT NULL,
  nonce      text NOT NULL,
  return_to  text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- An environment is a namespace holding apps.
CREATE TABLE environment_roles (
  namespace text NOT NULL,
  user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role      text NOT NULL CHECK (role IN ('Admin', 'User')),
  PRIMARY KEY (namespace, user_id)
);

CREATE TABLE app_roles (
  namespace text NOT NULL,
  app       text NOT NULL,
  user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role      text NOT NULL CHECK (role IN ('Owner', 'Maintainer')),
  PRIMARY KEY (namespace, app, user_id)
);
CREATE INDEX app_roles_user ON app_roles (user_id);
CREATE INDEX environment_roles_user ON environment_roles (user_id);

-- Every operation on an app is a task: the history and the work queue.
CREATE TABLE tasks (
  id               bigserial PRIMARY KEY,
  namespace        text NOT NULL,
  app              text NOT NULL,
  operation        text NOT NULL CHECK (operation IN
                     ('Install', 'Upgrade', 'Reinstall', 'Recreate', 'Uninstall', 'InvokeAction', 'RestartK8sResource')),
  state            text NOT NULL DEFAULT 'Pending' CHECK (state IN ('Pending', 'Started', 'Done', 'Failed', 'Canceled')),
  reason           text NOT NULL DEFAULT '',
  actor            text NOT NULL,
  request          jsonb NOT NULL DEFAULT '{}',
  diff             jsonb NOT NULL DEFAULT '[]',
  created_at       timestamptz NOT NULL DEFAULT now(),
  execute_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  claimed_by       text,
  claim_expires_at timestamptz,
  attempts         integer NOT NULL DEFAULT 0
);
CREATE INDEX tasks_due ON tasks (execute_at, id) WHERE state = 'Pending';
CREATE INDEX tasks_claimed ON tasks (claim_expires_at) WHERE state = 'Started';
CREATE INDEX tasks_app ON tasks (namespace, app, id DESC);

-- The last status each app reported, written by every replica's informer;
-- an update that changes nothing changes no row and publishes nothing.
CREATE TABLE app_states (
  namespace text NOT NULL,
  name      text NOT NULL,
  status    jsonb NOT NULL,
  PRIMARY KEY (namespace, name)
);

-- The change feed. Ids are handed out under one lock held until commit, so
-- they become visible in order and a client resuming after id N misses
-- nothing.
CREATE TABLE events (
  id        bigserial PRIMARY KEY,
  at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  kind      text NOT NULL,
  namespace text NOT NULL DEFAULT '',
  app       text NOT NULL DEFAULT '',
  data      jsonb NOT NULL
);
CREATE INDEX events_at ON events (at);

CREATE FUNCTION publish_event(p_kind text, p_namespace text, p_app text, p_data jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  new_id bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(7366020);
  INSERT INTO events (kind, namespace, app, data) VALUES (p_kind, p_namespace, p_app, p_data) RETURNING id INTO new_id;
  PERFORM pg_notify('plattr_events', new_id::text);
END
$$;

CREATE FUNCTION tasks_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM publish_event('task', NEW.namespace, NEW.app,
    jsonb_build_object('id', NEW.id, 'operation', NEW.operation, 'state', NEW.state, 'reason', NEW.reason, 'actor', NEW.actor));
  IF NEW.state = 'Pending' THEN
    PERFORM pg_notify('plattr_tasks', '');
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_changed AFTER INSERT OR UPDATE OF state, reason ON tasks
  FOR EACH ROW EXECUTE FUNCTION tasks_changed();

CREATE FUNCTION app_states_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM publish_event('app', OLD.namespace, OLD.name, jsonb_build_object('deleted', true));
    RETURN NULL;
  END IF;
  PERFORM publish_event('app', NEW.namespace, NEW.name, NEW.status);
  RETURN NULL;
END
$$;
CREATE TRIGGER app_states_changed AFTER INSERT OR UPDATE OR DELETE ON app_states
  FOR EACH ROW EXECUTE FUNCTION app_states_changed();

-- A role granted or taken away changes what a connected client may see.
CREATE FUNCTION roles_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  PERFORM publish_event('roles', r.namespace, '', jsonb_build_object('userId', r.user_id));
  RETURN NULL;
END
$$;
CREATE TRIGGER environment_roles_changed AFTER INSERT OR UPDATE OR DELETE ON environment_roles
  FOR EACH ROW EXECUTE FUNCTION roles_changed();
CREATE TRIGGER app_roles_changed AFTER INSERT OR UPDATE OR DELETE ON app_roles
  FOR EACH ROW EXECUTE FUNCTION roles_changed();
