-- Lab seed for the tracing database agenta_oss_tracing (tables of revision 7ace00000001).
-- Invocation: psql -v ON_ERROR_STOP=1 -v rows=N -v mb=M -f FILE   (rows default 300, mb default 0, 0..1024)
-- Inserts deterministic data (ids are md5-derived uuids, fixed timestamps) with generate_series:
--   traces: rows; spans: rows (one per trace), whose attributes carry about mb MB of incompressible
--   payload in total (mb/rows MB per span) plus a "tags" object (read by tracing_oss 7a5500000002).
-- project ids are those of the core seed (ceil(rows/50) projects), so both seeds line up.
-- Uses only tables and columns created by the first revision of the tracing tree, so it works at
-- every release. Meant to run once on a freshly migrated database (ids would collide on a second run).

\set QUIET on
\if :{?rows}
\else
\set rows 300
\endif
\if :{?mb}
\else
\set mb 0
\endif
SELECT (:rows)::int >= 1 AND (:mb)::int BETWEEN 0 AND 1024 AS seed_args_ok \gset
\if :seed_args_ok
\else
SELECT ('invalid seed arguments: need rows >= 1 and 0 <= mb <= 1024, got rows=' || :'rows' || ' mb=' || :'mb')::int;
\endif
-- payload pieces of 256 hex characters each (about 260 bytes in jsonb)
SELECT ceil((:rows)::numeric / 50)::int AS projects,
       ceil((:mb)::numeric * 1048576 / (:rows)::int / 260)::int AS payload_per_span
\gset

BEGIN;

INSERT INTO traces (id, project_id, name, start_time, end_time, created_at)
SELECT md5('agenta-lab:trace:' || i)::uuid,
       md5('agenta-lab:project:' || ((i - 1) % :projects + 1))::uuid,
       'Lab trace ' || i,
       timestamptz '2025-02-01 00:00:00+00' + i * interval '1 minute',
       timestamptz '2025-02-01 00:00:00+00' + i * interval '1 minute' + (i % 7 + 1) * interval '100 milliseconds',
       timestamptz '2025-02-01 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, :rows) AS i;

INSERT INTO spans (id, project_id, trace_id, parent_id, span_name, span_kind, start_time, end_time, attributes, created_at)
SELECT md5('agenta-lab:span:' || i)::uuid,
       md5('agenta-lab:project:' || ((i - 1) % :projects + 1))::uuid,
       md5('agenta-lab:trace:' || i)::uuid,
       NULL,
       (ARRAY['llm.call', 'retrieve', 'workflow'])[i % 3 + 1],
       (ARRAY['CLIENT', 'INTERNAL', 'SERVER'])[i % 3 + 1],
       timestamptz '2025-02-01 00:00:00+00' + i * interval '1 minute',
       timestamptz '2025-02-01 00:00:00+00' + i * interval '1 minute' + (i % 7 + 1) * interval '100 milliseconds',
       jsonb_build_object(
           'inputs', jsonb_build_object('question', 'Question ' || i),
           'outputs', jsonb_build_object('answer', 'Answer ' || i),
           'tags', jsonb_build_object('env', 'lab', 'batch', 'b' || (i % 10)),
           'payload', coalesce(payload.pieces, '[]'::jsonb)),
       timestamptz '2025-02-01 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, :rows) AS i
 CROSS JOIN LATERAL (
       SELECT jsonb_agg(
                  encode(sha512(convert_to('agenta-lab:span:' || i || ':' || k, 'UTF8')), 'hex')
                  || encode(sha512(convert_to('agenta-lab:span:' || k || ':' || i, 'UTF8')), 'hex') ORDER BY k) AS pieces
         FROM generate_series(1, :payload_per_span) AS k) AS payload;

COMMIT;

\set QUIET off
SELECT current_database() AS database,
       (SELECT count(*) FROM traces) AS traces,
       (SELECT count(*) FROM spans) AS spans,
       pg_size_pretty(pg_database_size(current_database())) AS database_size;
