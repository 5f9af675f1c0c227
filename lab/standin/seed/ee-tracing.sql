-- Lab seed for the EE tables of agenta_ee_tracing (tracing_ee 7e0000000001): span meters per project and month.
-- Runs after tracing.sql. Invocation as tracing.sql: psql -v ON_ERROR_STOP=1 -v rows=N -f FILE.
\set QUIET on
\if :{?rows}
\else
\set rows 300
\endif
SELECT ceil((:rows)::numeric / 50)::int AS projects \gset

INSERT INTO span_meters (project_id, month, spans)
SELECT md5('agenta-lab:project:' || p)::uuid,
       date '2025-01-01' + (m * interval '1 month'),
       p * 100 + m
  FROM generate_series(1, :projects) AS p, generate_series(0, 2) AS m;
