-- The Kubernetes objects each app owns, as the informers last saw them
-- (Platz's k8s_resources): kind, name, a status colour and a summary.
CREATE TABLE k8s_resources (
  kind      text NOT NULL,
  namespace text NOT NULL,
  name      text NOT NULL,
  app       text NOT NULL,
  data      jsonb NOT NULL,
  PRIMARY KEY (kind, namespace, name)
);
CREATE INDEX k8s_resources_app ON k8s_resources (namespace, app);

CREATE FUNCTION k8s_resources_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM publish_event('resource', OLD.namespace, OLD.app,
      jsonb_build_object('kind', OLD.kind, 'name', OLD.name, 'deleted', true));
    RETURN NULL;
  END IF;
  PERFORM publish_event('resource', NEW.namespace, NEW.app, NEW.data);
  RETURN NULL;
END
$$;
CREATE TRIGGER k8s_resources_changed AFTER INSERT OR UPDATE OR DELETE ON k8s_resources
  FOR EACH ROW EXECUTE FUNCTION k8s_resources_changed();
