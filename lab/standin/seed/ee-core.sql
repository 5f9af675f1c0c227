-- Lab seed for the EE tables of agenta_ee_core (core_ee ce0000000001): one subscription per project.
-- Runs after core.sql (projects). Invocation as core.sql: psql -v ON_ERROR_STOP=1 -v rows=N -f FILE.
\set QUIET on
\if :{?rows}
\else
\set rows 300
\endif
SELECT ceil((:rows)::numeric / 50)::int AS projects \gset

INSERT INTO subscriptions (id, project_id, plan, active, created_at)
SELECT md5('agenta-lab:subscription:' || p)::uuid,
       md5('agenta-lab:project:' || p)::uuid,
       (ARRAY['Hobby', 'Pro', 'Business Plus'])[p % 3 + 1],
       p % 4 <> 0,
       timestamptz '2025-01-01 00:00:00+00' + p * interval '1 hour'
  FROM generate_series(1, :projects) AS p;
