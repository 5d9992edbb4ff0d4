-- What each app reports at its declared status path (Platz's status
-- feature), written only when it changes.
CREATE TABLE status_reports (
  namespace  text NOT NULL,
  app        text NOT NULL,
  report     jsonb NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (namespace, app)
);

CREATE FUNCTION status_reports_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM publish_event('status', OLD.namespace, OLD.app, jsonb_build_object('deleted', true));
    RETURN NULL;
  END IF;
  PERFORM publish_event('status', NEW.namespace, NEW.app, NEW.report);
  RETURN NULL;
END
$$;
CREATE TRIGGER status_reports_changed AFTER INSERT OR UPDATE OR DELETE ON status_reports
  FOR EACH ROW EXECUTE FUNCTION status_reports_changed();
