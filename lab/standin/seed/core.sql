-- Lab seed for the core database agenta_oss_core (tables of revisions c0de00000001 and c0de00000002).
-- Invocation: psql -v ON_ERROR_STOP=1 -v rows=N -v mb=M -f FILE   (rows default 300, mb default 0, 0..1024)
-- Inserts deterministic data (ids are md5-derived uuids, fixed timestamps) with generate_series:
--   projects ceil(rows/50); apps, app_variants, testsets, evaluations, evaluation_scenarios: rows each;
--   plus about mb MB of incompressible payload appended to testsets.csvdata (mb/rows MB per testset).
-- Uses only tables and columns created by the first two revisions of the tree, so it works at
-- every release. Meant to run once on a freshly migrated database (ids would collide on a second run).
-- Variant configs are written in the old flat shape and evaluation statuses in the old words, so
-- the data migrations have rows to rewrite.

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
-- projects: one per 50 rows; payload: rows of about 300 bytes (256 incompressible hex characters + keys)
-- appended to each testset's csvdata so that the testsets carry about :mb MB in total
SELECT ceil((:rows)::numeric / 50)::int AS projects,
       ceil((:mb)::numeric * 1048576 / (:rows)::int / 300)::int AS payload_per_testset
\gset

BEGIN;

INSERT INTO projects (id, project_name, is_default, created_at)
SELECT md5('agenta-lab:project:' || p)::uuid,
       'Lab project ' || p,
       p = 1,
       timestamptz '2025-01-01 00:00:00+00' + p * interval '1 hour'
  FROM generate_series(1, :projects) AS p;

INSERT INTO apps (id, project_id, app_name, app_type, created_at, updated_at)
SELECT md5('agenta-lab:app:' || i)::uuid,
       md5('agenta-lab:project:' || ((i - 1) % :projects + 1))::uuid,
       format('%s Bot #%s: Q&A (v%s)', (ARRAY['Support', 'Sales', 'Legal RAG', 'HR Helper'])[i % 4 + 1], i, i % 3 + 1),
       (ARRAY['chat', 'completion', 'custom'])[i % 3 + 1],
       timestamptz '2025-01-02 00:00:00+00' + i * interval '1 minute',
       timestamptz '2025-01-03 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, :rows) AS i;

INSERT INTO app_variants (id, app_id, project_id, variant_name, revision, config_parameters, created_at)
SELECT md5('agenta-lab:variant:' || i)::uuid,
       md5('agenta-lab:app:' || i)::uuid,
       md5('agenta-lab:project:' || ((i - 1) % :projects + 1))::uuid,
       (ARRAY['default', 'gpt-4o', 'low-temp'])[i % 3 + 1],
       i % 5 + 1,
       jsonb_build_object(
           'model', (ARRAY['gpt-4o-mini', 'gpt-4o', 'claude-3-5-sonnet'])[i % 3 + 1],
           'temperature', round((i % 10) / 10.0, 1),
           'max_tokens', 256 + (i % 4) * 128,
           'prompt_system', 'You are lab assistant number ' || i || '.',
           'prompt_user', 'Answer the question: {question}',
           'top_p', 1),
       timestamptz '2025-01-04 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, :rows) AS i;

INSERT INTO testsets (id, project_id, name, csvdata, created_at)
SELECT md5('agenta-lab:testset:' || i)::uuid,
       md5('agenta-lab:project:' || ((i - 1) % :projects + 1))::uuid,
       'Lab testset ' || i,
       base.rows || coalesce(payload.rows, '[]'::jsonb),
       timestamptz '2025-01-05 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, :rows) AS i
 CROSS JOIN LATERAL (
       SELECT jsonb_agg(jsonb_build_object(
                  'country', 'Country ' || i || '-' || k,
                  'correct_answer', 'Capital ' || i || '-' || k) ORDER BY k) AS rows
         FROM generate_series(1, 5) AS k) AS base
 CROSS JOIN LATERAL (
       SELECT jsonb_agg(jsonb_build_object(
                  'country', 'Payload ' || i || '-' || k,
                  'correct_answer',
                  encode(sha512(convert_to('agenta-lab:' || i || ':' || k, 'UTF8')), 'hex')
                  || encode(sha512(convert_to('agenta-lab:' || k || ':' || i, 'UTF8')), 'hex')) ORDER BY k) AS rows
         FROM generate_series(1, :payload_per_testset) AS k) AS payload;

INSERT INTO evaluations (id, project_id, app_id, testset_id, status, average_latency, created_at)
SELECT md5('agenta-lab:evaluation:' || i)::uuid,
       md5('agenta-lab:project:' || ((i - 1) % :projects + 1))::uuid,
       md5('agenta-lab:app:' || i)::uuid,
       md5('agenta-lab:testset:' || i)::uuid,
       (ARRAY['EVALUATION_INITIALIZED', 'EVALUATION_STARTED', 'EVALUATION_FINISHED', 'EVALUATION_FAILED'])[i % 4 + 1],
       jsonb_build_object('type', 'latency', 'value', round((0.2 + (i % 17) / 10.0)::numeric, 2)),
       timestamptz '2025-01-06 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, :rows) AS i;

INSERT INTO evaluation_scenarios (id, project_id, evaluation_id, inputs, outputs, created_at)
SELECT md5('agenta-lab:scenario:' || i)::uuid,
       md5('agenta-lab:project:' || ((i - 1) % :projects + 1))::uuid,
       md5('agenta-lab:evaluation:' || i)::uuid,
       jsonb_build_array(jsonb_build_object('input_name', 'country', 'input_value', 'Country ' || i || '-1')),
       jsonb_build_array(jsonb_build_object('type', 'text', 'value', 'Capital ' || i || '-1')),
       timestamptz '2025-01-07 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, :rows) AS i;

COMMIT;

\set QUIET off
SELECT current_database() AS database,
       (SELECT count(*) FROM projects) AS projects,
       (SELECT count(*) FROM apps) AS apps,
       (SELECT count(*) FROM app_variants) AS app_variants,
       (SELECT count(*) FROM testsets) AS testsets,
       (SELECT count(*) FROM evaluations) AS evaluations,
       (SELECT count(*) FROM evaluation_scenarios) AS evaluation_scenarios,
       pg_size_pretty(pg_database_size(current_database())) AS database_size;
