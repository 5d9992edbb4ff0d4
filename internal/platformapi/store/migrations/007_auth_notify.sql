-- A token revoked, expired early or deleted, a session ended, a user
-- deleted or their site-admin flag changed: NOTIFY the user's id, so every
-- replica's open event streams of that user check their caller again at
-- once (stream.Hub) instead of serving a principal that is gone. Not a row
-- in the change feed: nothing here is for clients to see or replay.
CREATE FUNCTION auth_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  uid bigint;
BEGIN
  IF TG_TABLE_NAME = 'users' THEN
    IF TG_OP = 'DELETE' THEN uid := OLD.id; ELSE uid := NEW.id; END IF;
  ELSIF TG_OP = 'DELETE' THEN
    uid := OLD.user_id;
  ELSE
    uid := NEW.user_id;
  END IF;
  PERFORM pg_notify('plattr_auth', uid::text);
  RETURN NULL;
END
$$;
CREATE TRIGGER api_tokens_auth_changed AFTER UPDATE OF revoked_at, expires_at OR DELETE ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION auth_changed();
CREATE TRIGGER sessions_auth_changed AFTER UPDATE OF expires_at OR DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION auth_changed();
CREATE TRIGGER users_auth_changed AFTER UPDATE OF site_admin OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION auth_changed();
