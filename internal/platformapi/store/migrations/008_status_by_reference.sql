-- Status reports by reference (issue 18): the change feed carries the
-- report without its body (the body's SHA-256 names it); the body is kept
-- once, in the app's one status_reports row. A client that sees the hash
-- change reads the app. Before this, every changed body (up to 64 KiB) was
-- copied into events and kept for EVENT_RETENTION.
CREATE OR REPLACE FUNCTION status_reports_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM publish_event('status', OLD.namespace, OLD.app, jsonb_build_object('deleted', true));
    RETURN NULL;
  END IF;
  PERFORM publish_event('status', NEW.namespace, NEW.app, (NEW.report - 'body') || jsonb_build_object('changedAt', NEW.changed_at));
  RETURN NULL;
END
$$;

-- Status events already written keep their bodies until they age out.
