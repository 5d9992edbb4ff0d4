-- The tenant boundary (issue 18): what the API keeps about a namespace or
-- an app is bound to the object it was about, by UID, so a tenant or app
-- made later under the same name inherits none of it.

-- The namespaces whose roles the tenant mirror keeps, and for which Tenant
-- (by UID): only these are ever synced or forgotten on a tenant's behalf.
CREATE TABLE tenant_namespaces (
  namespace  text PRIMARY KEY,
  tenant     text NOT NULL,
  tenant_uid text NOT NULL
);

-- The app (by UID) a role was granted on; '' for roles older than this.
ALTER TABLE app_roles ADD COLUMN app_uid text NOT NULL DEFAULT '';

-- The app (by UID) a task acted on ('' until an Install has made it), and
-- when its app was forgotten: a retired task is kept for audit (site admins
-- read it by id) but is no longer any app's history.
ALTER TABLE tasks ADD COLUMN app_uid text NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN retired_at timestamptz;
DROP INDEX tasks_app;
CREATE INDEX tasks_app ON tasks (namespace, app, id DESC) WHERE retired_at IS NULL;

-- A deleted app's cost samples still count in site admins' totals, but no
-- longer under the name a new app may take.
ALTER TABLE cost_samples ADD COLUMN retired boolean NOT NULL DEFAULT false;
