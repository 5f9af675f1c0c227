-- Lab seed for Agenta's REAL v0.103.5 core database (agenta_oss_core), after the release's own runner created
-- the schema. Rows follow the real schema and its foreign keys: users, an organization, its workspace and two
-- projects, then rows in every legacy app-centric table that v0.113.0's 3d4e5f6a7b8c_drop_legacy_tables drops
-- (apps, variants, revisions, bases, images, deployments, environments, testsets, old human and auto
-- evaluations, ids_mapping, templates), and a few rows in the new entities and api keys.
-- Invocation: psql -v ON_ERROR_STOP=1 -v rows=N -f FILE  (rows: testsets and evaluation scenarios per project,
-- at most 200 here; default 20). Ids are md5-derived uuids, so the seed is deterministic.
\set QUIET on
\if :{?rows}
\else
\set rows 20
\endif
SELECT least(greatest((:rows)::int, 1), 200) AS n \gset
BEGIN;
CREATE TEMP TABLE seed_projects AS
  SELECT p, md5('project-' || p)::uuid AS id FROM generate_series(1, 2) AS p;

INSERT INTO users (id, uid, username, email, created_at, updated_at, is_active)
SELECT md5('user-' || u)::uuid, 'st-uid-' || u, 'user' || u, 'user' || u || '@lab.agenta.invalid',
       '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', true
  FROM generate_series(1, 3) AS u;

INSERT INTO organizations (id, name, description, created_at, updated_at, slug, owner_id, created_by_id, flags)
VALUES (md5('org-1')::uuid, 'Lab organization', 'seeded by lab.py', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z',
        NULL, md5('user-1')::uuid, md5('user-1')::uuid, '{"is_personal": false}');

INSERT INTO workspaces (id, name, type, description, organization_id, created_at, updated_at)
VALUES (md5('workspace-1')::uuid, 'Default', 'default', 'seeded by lab.py', md5('org-1')::uuid,
        '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');

INSERT INTO projects (id, project_name, is_default, created_at, updated_at, workspace_id, organization_id)
SELECT id, 'Project ' || p, p = 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', md5('workspace-1')::uuid,
       md5('org-1')::uuid
  FROM seed_projects;

-- The release's first install created a 'Default' project without organization or workspace; the first sign-up
-- gives it both. Without them v0.113.0's 0a1b2c3d4e5f refuses to run (a fault test takes them away again).
UPDATE projects SET organization_id = md5('org-1')::uuid, workspace_id = md5('workspace-1')::uuid
 WHERE organization_id IS NULL;

INSERT INTO api_keys (id, prefix, hashed_key, project_id, created_by_id, rate_limit, hidden, created_at, updated_at)
SELECT md5('apikey-' || p)::uuid, 'lab' || p, md5('key-' || p), id, md5('user-1')::uuid, 0, false,
       '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'
  FROM seed_projects;

INSERT INTO templates (id, type, template_uri, tag_id, name, repo_name, title, description, size, digest)
VALUES (md5('template-1')::uuid, 'IMAGE', 'agentaai/templates:chat', 1, 'chat', 'templates', 'Chat', 'lab', 1, 'sha256:0'),
       (md5('template-2')::uuid, 'ZIP', 'agentaai/templates:completion', 2, 'completion', 'templates', 'Completion',
        'lab', 1, 'sha256:1');

-- apps and their legacy ecosystem: per project 3 apps, each with an image, a deployment, a base, 2 variants,
-- 2 revisions per variant, an environment and its revision
CREATE TEMP TABLE seed_apps AS
  SELECT sp.id AS project_id, sp.p, a, md5('app-' || sp.p || '-' || a)::uuid AS id
    FROM seed_projects sp, generate_series(1, 3) AS a;

INSERT INTO app_db (id, app_name, created_at, updated_at, modified_by_id, project_id, app_type)
SELECT id, 'app-' || p || '-' || a, '2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z', md5('user-1')::uuid, project_id,
       (ARRAY['CHAT_SERVICE', 'COMPLETION_SERVICE', 'CUSTOM']::app_type_enum[])[a]
  FROM seed_apps;

INSERT INTO docker_images (id, type, template_uri, docker_id, tags, deletable, created_at, updated_at, project_id)
SELECT md5('image-' || id)::uuid, 'image', 'agentaai/templates:chat', 'sha256:' || md5(id::text), 'lab', true,
       '2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z', project_id
  FROM seed_apps;

INSERT INTO deployments (id, app_id, container_name, container_id, uri, status, created_at, updated_at, project_id)
SELECT md5('deployment-' || id)::uuid, id, 'app-' || a, md5(id::text), 'http://services/app-' || a, 'running',
       '2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z', project_id
  FROM seed_apps;

INSERT INTO bases (id, app_id, base_name, image_id, deployment_id, created_at, updated_at, project_id)
SELECT md5('base-' || id)::uuid, id, 'app', md5('image-' || id)::uuid, md5('deployment-' || id)::uuid,
       '2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z', project_id
  FROM seed_apps;

CREATE TEMP TABLE seed_variants AS
  SELECT s.project_id, s.id AS app_id, v, md5('variant-' || s.id || '-' || v)::uuid AS id
    FROM seed_apps s, generate_series(1, 2) AS v;

INSERT INTO app_variants (id, app_id, variant_name, revision, image_id, modified_by_id, base_name, base_id,
                          config_name, created_at, updated_at, project_id, hidden, config_parameters)
SELECT id, app_id, 'app.variant' || v, 2, md5('image-' || app_id)::uuid, md5('user-1')::uuid, 'app',
       md5('base-' || app_id)::uuid, 'variant' || v, '2026-01-03T00:00:00Z', '2026-01-03T00:00:00Z', project_id, false,
       json_build_object('temperature', 0.5 + v / 10.0, 'prompt_system', 'You are variant ' || v)
  FROM seed_variants;

INSERT INTO app_variant_revisions (id, variant_id, revision, modified_by_id, base_id, config_name, created_at,
                                   updated_at, project_id, commit_message, hidden, config_parameters)
SELECT md5('revision-' || id || '-' || r)::uuid, id, r, md5('user-1')::uuid, md5('base-' || app_id)::uuid,
       'variant' || v, '2026-01-03T00:00:00Z', '2026-01-03T00:00:00Z', project_id, 'revision ' || r, false,
       json_build_object('temperature', r / 10.0)
  FROM seed_variants, generate_series(1, 2) AS r;

INSERT INTO environments (id, app_id, name, revision, deployed_app_variant_id, deployed_app_variant_revision_id,
                          deployment_id, created_at, project_id)
SELECT md5('environment-' || s.id)::uuid, s.id, 'production', 1, md5('variant-' || s.id || '-1')::uuid,
       md5('revision-' || md5('variant-' || s.id || '-1')::uuid || '-2')::uuid, md5('deployment-' || s.id)::uuid,
       '2026-01-04T00:00:00Z', s.project_id
  FROM seed_apps s;

INSERT INTO environments_revisions (id, environment_id, revision, modified_by_id, deployed_app_variant_revision_id,
                                    deployment_id, created_at, project_id, commit_message)
SELECT md5('envrev-' || s.id)::uuid, md5('environment-' || s.id)::uuid, 1, md5('user-1')::uuid,
       md5('revision-' || md5('variant-' || s.id || '-1')::uuid || '-2')::uuid, md5('deployment-' || s.id)::uuid,
       '2026-01-04T00:00:00Z', s.project_id, 'deploy'
  FROM seed_apps s;

-- old testsets (superseded by testset_artifacts/_variants/_revisions) and old evaluations
INSERT INTO testsets (id, name, csvdata, created_at, updated_at, project_id)
SELECT md5('testset-' || sp.p || '-' || t)::uuid, 'testset ' || t,
       jsonb_build_array(jsonb_build_object('country', 'country ' || t, 'correct_answer', 'capital ' || t)),
       '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z', sp.id
  FROM seed_projects sp, generate_series(1, :n) AS t;

INSERT INTO auto_evaluator_configs (id, name, evaluator_key, settings_values, created_at, updated_at, project_id)
SELECT md5('evaluator-' || sp.p || '-' || e)::uuid, 'exact match ' || e, 'auto_exact_match', '{"threshold": 0.5}',
       '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z', sp.id
  FROM seed_projects sp, generate_series(1, 2) AS e;

INSERT INTO auto_evaluations (id, app_id, status, testset_id, variant_id, variant_revision_id, average_cost,
                              total_cost, average_latency, created_at, updated_at, project_id)
SELECT md5('autoeval-' || s.id)::uuid, s.id, '{"value": "EVALUATION_FINISHED"}', md5('testset-' || s.p || '-1')::uuid,
       md5('variant-' || s.id || '-1')::uuid, md5('revision-' || md5('variant-' || s.id || '-1')::uuid || '-1')::uuid,
       '{"value": 0.001}', '{"value": 0.01}', '{"value": 1.2}', '2026-01-06T00:00:00Z', '2026-01-06T00:00:00Z',
       s.project_id
  FROM seed_apps s;

INSERT INTO auto_evaluation_evaluator_configs (id, evaluation_id, evaluator_config_id)
SELECT md5('aeec-' || s.id)::uuid, md5('autoeval-' || s.id)::uuid, md5('evaluator-' || s.p || '-1')::uuid
  FROM seed_apps s;

INSERT INTO auto_evaluation_aggregated_results (id, evaluation_id, evaluator_config_id, result)
SELECT md5('aear-' || s.id)::uuid, md5('autoeval-' || s.id)::uuid, md5('evaluator-' || s.p || '-1')::uuid,
       '{"type": "number", "value": 0.75}'
  FROM seed_apps s;

INSERT INTO auto_evaluation_scenarios (id, evaluation_id, variant_id, inputs, outputs, correct_answers, is_pinned,
                                       note, latency, cost, created_at, updated_at, project_id)
SELECT md5('aes-' || s.id || '-' || k)::uuid, md5('autoeval-' || s.id)::uuid, md5('variant-' || s.id || '-1')::uuid,
       jsonb_build_array(jsonb_build_object('name', 'country', 'value', 'country ' || k)),
       jsonb_build_array(jsonb_build_object('result', 'capital ' || k)), '[]', false, '', 1, 1,
       '2026-01-06T00:00:00Z', '2026-01-06T00:00:00Z', s.project_id
  FROM seed_apps s, generate_series(1, :n) AS k;

INSERT INTO auto_evaluation_scenario_results (id, evaluation_scenario_id, evaluator_config_id, result)
SELECT md5('aesr-' || s.id || '-' || k)::uuid, md5('aes-' || s.id || '-' || k)::uuid,
       md5('evaluator-' || s.p || '-1')::uuid, '{"type": "bool", "value": true}'
  FROM seed_apps s, generate_series(1, :n) AS k;

INSERT INTO human_evaluations (id, app_id, status, evaluation_type, testset_id, created_at, updated_at, project_id)
SELECT md5('humaneval-' || s.id)::uuid, s.id, 'EVALUATION_FINISHED', 'human_a_b_testing',
       md5('testset-' || s.p || '-1')::uuid, '2026-01-07T00:00:00Z', '2026-01-07T00:00:00Z', s.project_id
  FROM seed_apps s;

INSERT INTO human_evaluation_variants (id, human_evaluation_id, variant_id, variant_revision_id)
SELECT md5('hev-' || s.id || '-' || v)::uuid, md5('humaneval-' || s.id)::uuid, md5('variant-' || s.id || '-' || v)::uuid,
       md5('revision-' || md5('variant-' || s.id || '-' || v)::uuid || '-1')::uuid
  FROM seed_apps s, generate_series(1, 2) AS v;

INSERT INTO human_evaluations_scenarios (id, evaluation_id, inputs, outputs, vote, score, correct_answer, created_at,
                                         updated_at, is_pinned, note, project_id)
SELECT md5('hes-' || s.id || '-' || k)::uuid, md5('humaneval-' || s.id)::uuid,
       jsonb_build_array(jsonb_build_object('input_name', 'country', 'input_value', 'country ' || k)),
       jsonb_build_array(jsonb_build_object('variant_id', md5('variant-' || s.id || '-1')::uuid, 'variant_output', 'x')),
       'variant1', '', 'capital ' || k, '2026-01-07T00:00:00Z', '2026-01-07T00:00:00Z', false, '', s.project_id
  FROM seed_apps s, generate_series(1, :n) AS k;

INSERT INTO ids_mapping (id, table_name, objectid, uuid)
SELECT md5('idmap-' || s.id)::uuid, 'app_db', substr(md5(s.id::text), 1, 24), s.id FROM seed_apps s;

-- a few rows of the new entities, which the upgrade keeps
INSERT INTO testset_artifacts (project_id, id, slug, created_at, created_by_id, name)
SELECT id, md5('tsa-' || p)::uuid, 'testset-' || p, '2026-01-08T00:00:00Z', md5('user-1')::uuid, 'Testset ' || p
  FROM seed_projects;
COMMIT;
