-- Requested CPU and memory per app, sampled at a fixed interval by one
-- replica; each row stands for interval_seconds of that usage. A sample
-- slot is written once (a restart mid-interval does not count twice).
CREATE TABLE cost_samples (
  at               timestamptz NOT NULL,
  namespace        text NOT NULL,
  app              text NOT NULL,
  tenant           text NOT NULL DEFAULT '',
  cpu_cores        double precision NOT NULL,
  memory_gib       double precision NOT NULL,
  interval_seconds double precision NOT NULL,
  PRIMARY KEY (at, namespace, app)
);
CREATE INDEX cost_samples_at ON cost_samples (at);
