-- Lab seed for Agenta's REAL v0.103.5 tracing database (agenta_oss_tracing): spans of a few traces per project
-- (the projects of real-g2-core.sql) and their events. Invocation: psql -v ON_ERROR_STOP=1 -v rows=N -f FILE
-- (rows: traces per project, at most 200 here; default 20); 3 spans per trace.
\set QUIET on
\if :{?rows}
\else
\set rows 20
\endif
SELECT least(greatest((:rows)::int, 1), 200) AS n \gset
BEGIN;
INSERT INTO spans (project_id, created_at, created_by_id, trace_id, span_id, parent_id, span_kind, span_name,
                   start_time, end_time, status_code, attributes, trace_type, span_type)
SELECT md5('project-' || p)::uuid, '2026-01-09T00:00:00Z', md5('user-1')::uuid,
       md5('trace-' || p || '-' || t)::uuid, md5('span-' || p || '-' || t || '-' || s)::uuid,
       CASE WHEN s = 1 THEN NULL ELSE md5('span-' || p || '-' || t || '-1')::uuid END,
       'SPAN_KIND_SERVER', CASE WHEN s = 1 THEN 'invoke' ELSE 'step ' || s END,
       '2026-01-09T00:00:00Z'::timestamptz + make_interval(secs => t), '2026-01-09T00:00:01Z'::timestamptz + make_interval(secs => t),
       'STATUS_CODE_OK', jsonb_build_object('ag', jsonb_build_object('type', 'completion')), 'INVOCATION',
       CASE WHEN s = 1 THEN 'WORKFLOW' ELSE 'LLM' END::spantype
  FROM generate_series(1, 2) AS p, generate_series(1, :n) AS t, generate_series(1, 3) AS s;

INSERT INTO events (project_id, request_id, event_id, request_type, event_type, timestamp, status_code, attributes)
SELECT md5('project-' || p)::uuid, md5('request-' || p || '-' || t)::uuid, md5('event-' || p || '-' || t)::uuid,
       'invoke', 'span.created', '2026-01-09T00:00:00Z'::timestamptz + make_interval(secs => t), '200', '{}'
  FROM generate_series(1, 2) AS p, generate_series(1, :n) AS t;
COMMIT;
