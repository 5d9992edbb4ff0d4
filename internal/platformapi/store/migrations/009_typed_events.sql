-- A typed change feed (issue 19). Before this, six trigger functions
-- (001, 002, 003, 005, 008) each built their kind's payload, and every
-- API replica parsed tenant and roles payloads again per event per client
-- to find who may see them. Now:
--
--   * one trigger function, publish_change(), publishes every kind; each
--     CREATE TRIGGER below declares its kind as package api/events does
--     (a test there decodes every kind's event into its Go struct);
--   * who may receive an event is kept beside it, in columns the stream's
--     filter reads: audience (app, tenant or roles), members (a tenant
--     event's members), subject (the user whose roles changed) and
--     admin_only (a task of a deleted app: site admins only).

ALTER TABLE events
  ADD COLUMN audience   text,
  ADD COLUMN members    text[] NOT NULL DEFAULT '{}',
  ADD COLUMN subject    bigint,
  ADD COLUMN admin_only boolean NOT NULL DEFAULT false;

-- Events already written get their audience from their payload, once.
UPDATE events SET audience = CASE kind WHEN 'tenant' THEN 'tenant' WHEN 'roles' THEN 'roles' ELSE 'app' END;
UPDATE events SET members = ARRAY(SELECT jsonb_array_elements_text(data -> 'members'))
  WHERE kind = 'tenant' AND jsonb_typeof(data -> 'members') = 'array';
UPDATE events SET subject = (data ->> 'userId')::bigint
  WHERE kind = 'roles' AND jsonb_typeof(data -> 'userId') = 'number';
UPDATE events e SET admin_only = true FROM tasks t
  WHERE e.kind = 'task' AND jsonb_typeof(e.data -> 'id') = 'number' AND t.id = (e.data ->> 'id')::bigint AND t.retired_at IS NOT NULL;
-- No default: an event whose audience is not said is refused, not shown.
ALTER TABLE events ALTER COLUMN audience SET NOT NULL,
  ADD CONSTRAINT events_audience CHECK (audience IN ('app', 'tenant', 'roles'));

DROP TRIGGER tasks_changed ON tasks;
DROP TRIGGER app_states_changed ON app_states;
DROP TRIGGER environment_roles_changed ON environment_roles;
DROP TRIGGER app_roles_changed ON app_roles;
DROP TRIGGER k8s_resources_changed ON k8s_resources;
DROP TRIGGER status_reports_changed ON status_reports;
DROP TRIGGER tenant_states_changed ON tenant_states;
DROP FUNCTION tasks_changed();
DROP FUNCTION app_states_changed();
DROP FUNCTION roles_changed();
DROP FUNCTION k8s_resources_changed();
DROP FUNCTION status_reports_changed();
DROP FUNCTION tenant_states_changed();
DROP FUNCTION publish_event(text, text, text, jsonb);

-- publish_event appends one event to the feed with its audience (the
-- defaults: whoever may view namespace/app). Ids are handed out under one
-- lock held until commit, so they become visible in order and a client
-- resuming after id N misses nothing.
CREATE FUNCTION publish_event(p_kind text, p_namespace text, p_app text, p_data jsonb,
  p_audience text DEFAULT 'app', p_members text[] DEFAULT '{}', p_subject bigint DEFAULT NULL, p_admin_only boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  new_id bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(7366020);
  INSERT INTO events (kind, namespace, app, data, audience, members, subject, admin_only)
  VALUES (p_kind, p_namespace, p_app, p_data, p_audience, p_members, p_subject, p_admin_only)
  RETURNING id INTO new_id;
  PERFORM pg_notify('plattr_events', new_id::text);
END
$$;

-- publish_change publishes the change of the row it fires on. Its
-- arguments declare the event:
--   0 kind      the event kind (api/events Kind*)
--   1 audience  app | tenant | roles (api/events Audience*)
--   2 app       the row's column naming the app ('' for none)
--   3 document  the row's jsonb column the payload starts from ('' for none)
--   4 columns   the row's columns added to the payload, "column[:key],…"
--   5 omit      keys of the document left out, "key,…"
-- The event's namespace is the row's namespace column ('' if it has none).
-- A deleted row publishes its last payload with "deleted": true. The
-- audience columns: members from a tenant payload's members, subject from
-- a roles row's user_id, admin_only when the row has a retired_at.
CREATE FUNCTION publish_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r    jsonb;
  data jsonb := '{}';
  col  text;
BEGIN
  IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
  IF TG_ARGV[3] <> '' THEN
    data := coalesce(r -> TG_ARGV[3], '{}') - string_to_array(TG_ARGV[5], ',');
  END IF;
  FOREACH col IN ARRAY string_to_array(TG_ARGV[4], ',') LOOP
    data := data || jsonb_build_object(coalesce(nullif(split_part(col, ':', 2), ''), col), r -> split_part(col, ':', 1));
  END LOOP;
  IF TG_OP = 'DELETE' THEN
    data := data || '{"deleted": true}';
  END IF;
  PERFORM publish_event(TG_ARGV[0], coalesce(r ->> 'namespace', ''), coalesce(r ->> nullif(TG_ARGV[2], ''), ''), data, TG_ARGV[1],
    CASE WHEN TG_ARGV[1] = 'tenant' AND jsonb_typeof(data -> 'members') = 'array'
      THEN ARRAY(SELECT jsonb_array_elements_text(data -> 'members')) ELSE '{}'::text[] END,
    CASE WHEN TG_ARGV[1] = 'roles' THEN (r ->> 'user_id')::bigint END,
    coalesce(r ->> 'retired_at', '') <> '');
  RETURN NULL;
END
$$;

--                                                                         kind        audience  app     document  columns                                                  omit
CREATE TRIGGER tasks_changed AFTER INSERT OR UPDATE OF state, reason ON tasks
  FOR EACH ROW EXECUTE FUNCTION publish_change('task',     'app',    'app',  '',       'id,operation,state,reason,actor,created_at:createdAt', '');
CREATE TRIGGER app_states_changed AFTER INSERT OR UPDATE OR DELETE ON app_states
  FOR EACH ROW EXECUTE FUNCTION publish_change('app',      'app',    'name', 'status', '',                                                      '');
CREATE TRIGGER k8s_resources_changed AFTER INSERT OR UPDATE OR DELETE ON k8s_resources
  FOR EACH ROW EXECUTE FUNCTION publish_change('resource', 'app',    'app',  'data',   '',                                                      '');
-- The report by reference (008): the body stays in its row; its SHA-256 is in the payload.
CREATE TRIGGER status_reports_changed AFTER INSERT OR UPDATE OR DELETE ON status_reports
  FOR EACH ROW EXECUTE FUNCTION publish_change('status',   'app',    'app',  'report', 'changed_at:changedAt',                                  'body');
CREATE TRIGGER environment_roles_changed AFTER INSERT OR UPDATE OR DELETE ON environment_roles
  FOR EACH ROW EXECUTE FUNCTION publish_change('roles',    'roles',  '',     '',       'user_id:userId',                                        '');
CREATE TRIGGER app_roles_changed AFTER INSERT OR UPDATE OR DELETE ON app_roles
  FOR EACH ROW EXECUTE FUNCTION publish_change('roles',    'roles',  '',     '',       'user_id:userId',                                        '');
CREATE TRIGGER tenant_states_changed AFTER INSERT OR UPDATE OR DELETE ON tenant_states
  FOR EACH ROW EXECUTE FUNCTION publish_change('tenant',   'tenant', 'name', 'state',  '',                                                      '');

-- A task becoming due wakes the task runners; not a feed event.
CREATE FUNCTION tasks_due() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('plattr_tasks', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_due AFTER INSERT OR UPDATE OF state, reason ON tasks
  FOR EACH ROW WHEN (NEW.state = 'Pending') EXECUTE FUNCTION tasks_due();
