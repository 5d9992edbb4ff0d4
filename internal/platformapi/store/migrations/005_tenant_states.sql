-- Each tenant as the informers last saw it (phase, namespaces, members), so
-- a change reaches the event stream like an app's.
CREATE TABLE tenant_states (
  name  text PRIMARY KEY,
  state jsonb NOT NULL
);

CREATE FUNCTION tenant_states_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM publish_event('tenant', '', OLD.name, OLD.state || jsonb_build_object('deleted', true));
    RETURN NULL;
  END IF;
  PERFORM publish_event('tenant', '', NEW.name, NEW.state);
  RETURN NULL;
END
$$;
CREATE TRIGGER tenant_states_changed AFTER INSERT OR UPDATE OR DELETE ON tenant_states
  FOR EACH ROW EXECUTE FUNCTION tenant_states_changed();
