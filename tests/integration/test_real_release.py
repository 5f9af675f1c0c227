"""Agenta's REAL releases on a lab host: v0.103.5 -> v0.113.0 through the operator's playbooks.

The host's schema was created by v0.103.5's own runner (the compose `alembic` service at the first `up -d`) and
seeded through SQL that respects the real schema (lab/standin/seed/real-g2-*.sql), with rows in every legacy
table that v0.113.0's 3d4e5f6a7b8c_drop_legacy_tables drops. Nothing is mocked: real dockerd, PostgreSQL,
Alembic, Agenta's migration code and runner, ansible-playbook.

One lab host serves the whole module, in order: --check (the plan names what will be deleted, nothing changes),
the refusal without agenta_accept_data_loss, the upgrade (verify reports the drops as intended, the release's
runner ran under the collection's lock), a second run (nothing changes), the rollback (every table, row and
revision back), then the precondition fault of 0a1b2c3d4e5f (a project without organization).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO, labmod

PLAYBOOKS = REPO / "playbooks"
OLD, NEW = "real-v0.103.5", "real-v0.113.0"
HOST = "staging-1"
DBS = ("agenta_oss_core", "agenta_oss_tracing")
OLD_REVS = {"core": "b3c4d5e6f7a9", "core_oss": None, "tracing": "d1e2f3a4b5c6", "tracing_oss": None}
NEW_REVS = {"core": "park00000000", "core_oss": "oss000000021", "tracing": "park00000000", "tracing_oss": "oss000000004"}
# Legacy tables that 3d4e5f6a7b8c drops (the seed puts rows in each).
DROPPED = {"app_db", "app_variants", "app_variant_revisions", "bases", "deployments", "docker_images", "environments",
           "environments_revisions", "testsets", "auto_evaluator_configs", "auto_evaluations",
           "auto_evaluation_scenarios", "auto_evaluation_scenario_results", "auto_evaluation_aggregated_results",
           "auto_evaluation_evaluator_configs", "human_evaluations", "human_evaluation_variants",
           "human_evaluations_scenarios", "ids_mapping", "templates"}

pytestmark = pytest.mark.skipif(not (labmod.REAL_DIR / "requirements-g2-g3.txt").is_file(),
                                reason=f"Agenta's real releases are not at {labmod.REAL_DIR}")


def all_rows(lab, host) -> dict[str, int]:
    """Every ordinary table of both databases -> its exact row count (one query per database)."""
    out = {}
    for db in DBS:
        text = lab.psql(host, db, "SELECT c.relname || '=' || (xpath('/row/c/text()', query_to_xml("
                                  "format('SELECT count(*) AS c FROM public.%I', c.relname), false, true, '')))[1]::text "
                                  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                  "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1")
        for line in text.splitlines():
            name, rows = line.rsplit("=", 1)
            out[f"{db}.{name}"] = int(rows)
    return out


def image_tag(lab, host) -> str:
    return lab.sh(host, "docker", "inspect", "-f", "{{.Config.Image}}", labmod.API_CONTAINER).stdout.strip().rsplit(":", 1)[1]


def manifests(lab, host) -> list[str]:
    return lab.sh(host, "find", "/var/backups/agenta", "-name", "manifest.json", check=False).stdout.split()


def scratch_databases(lab) -> list[str]:
    return lab.psql(HOST, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE '%rehearsal%'").split()


def report(tmp: Path, name: str) -> dict:
    files = sorted(tmp.glob(f"{name}-*.json"))
    assert files, f"no {name} report in {tmp}"
    return json.loads(files[-1].read_text())


@pytest.fixture(scope="module")
def real(lab_factory):
    lab = lab_factory(OLD, staging=1, production=1, rows=20)
    lab.before = all_rows(lab, HOST)
    return lab


def task_result(run, name: str) -> dict:
    """The host's result of the task with this name (roles' tasks are named 'agenta.fleet.<role> : <name>')."""
    found = {}
    for play in run.json["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == name or task["task"]["name"].endswith(" : " + name):
                found.update(task["hosts"])
    return found[HOST]


def upgrade(lab, tmp_path, check=False, **extra):
    return lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=HOST, check=check, timeout=1800,
                        extra_vars={"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path), **extra})


def test_lab_host_was_made_by_the_real_runner(real):
    assert real.revisions(HOST) == OLD_REVS
    assert sum(1 for k in real.before if k.startswith("agenta_oss_core.")) == 51
    for table in DROPPED:
        assert real.before[f"agenta_oss_core.{table}"] > 0, table


def test_check_mode_names_what_the_release_deletes_and_changes_nothing(real, tmp_path):
    run = upgrade(real, tmp_path, check=True, agenta_rehearse=True)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert all_rows(real, HOST) == real.before and real.revisions(HOST) == OLD_REVS
    assert manifests(real, HOST) == []
    entry = {e["host"]: e for e in report(tmp_path, "upgrade")["hosts"]}[HOST]
    assert entry["outcome"] == "would upgrade"
    lines = "\n".join(entry["data_loss"])
    for table in ("app_db", "testsets", "auto_evaluator_configs"):
        rows = real.before[f"agenta_oss_core.{table}"]
        assert f"agenta_oss_core.{table}: {rows} rows, dropped by 3d4e5f6a7b8c (chain core)" in lines
    assert entry["deletes"].endswith(" rows") and "agenta_accept_data_loss=true" in entry["message"]
    # The rehearsal ran the real migration on scratch copies (dropped again) and says what it did.
    assert entry["rehearsal"].startswith("Rehearsed on copies of agenta_oss_core, agenta_oss_tracing in ")
    assert "tables dropped" in entry["rehearsal"]
    assert scratch_databases(real) == []


def test_an_upgrade_that_deletes_rows_needs_the_acknowledgement(real, tmp_path):
    run = upgrade(real, tmp_path)
    assert run.rc != 0
    msg = task_result(run, "Refuse an upgrade that deletes rows unless the operator accepted it")["msg"]
    assert "agenta_accept_data_loss=true" in msg and "testsets" in msg
    assert all_rows(real, HOST) == real.before and real.revisions(HOST) == OLD_REVS
    assert manifests(real, HOST) == [] and image_tag(real, HOST) == OLD


def test_upgrade_succeeds_and_verify_reports_the_drops_as_intended(real, tmp_path):
    run = upgrade(real, tmp_path, agenta_accept_data_loss=True)
    assert run.rc == 0, run.stdout[-5000:] + run.stderr
    assert real.revisions(HOST) == NEW_REVS
    assert image_tag(real, HOST) == NEW
    assert labmod.api_health(int(real.hosts[HOST].api_url.rsplit(":", 1)[1])) == 200
    after = all_rows(real, HOST)
    assert sum(1 for k in after if k.startswith("agenta_oss_core.")) == 44
    assert not {f"agenta_oss_core.{t}" for t in DROPPED} & set(after)
    verified = task_result(run, "Record what was verified")["ansible_facts"]["agenta_verify"]
    intended = {i["table"]: i for i in verified["intended"]}
    for table in DROPPED:
        item = intended[f"agenta_oss_core.{table}"]
        assert item["by"] == "3d4e5f6a7b8c" and item["rows_after"] is None
        assert item["rows_before"] == real.before[f"agenta_oss_core.{table}"]
    entry = {e["host"]: e for e in report(tmp_path, "upgrade")["hosts"]}[HOST]
    assert entry["outcome"] == "upgraded"
    assert f"agenta_oss_core.testsets: {real.before['agenta_oss_core.testsets']} rows before, dropped by 3d4e5f6a7b8c" \
        in entry["message"]
    # The release's own runner ran inside the migration run, so the compose alembic service found nothing to do.
    migrated = task_result(run, "Run the Alembic chains")
    assert migrated["runner"]["ran"] is True and migrated["runner"]["rc"] == 0, migrated["runner"]
    logs = real.compose(HOST, "logs", "alembic").stdout
    assert "Running upgrade" not in logs
    # Chain output keeps Alembic's lines, not the import noise.
    core = {c["name"]: c for c in migrated["chains"]}["core"]
    assert "Running upgrade 1b2c3d4e5f6a -> 3d4e5f6a7b8c" in core["output"]
    assert "UserWarning" not in core["output"]


def test_second_run_changes_nothing(real, tmp_path):
    before = all_rows(real, HOST)
    run = upgrade(real, tmp_path)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert all_rows(real, HOST) == before and real.revisions(HOST) == NEW_REVS
    entry = {e["host"]: e for e in report(tmp_path, "upgrade")["hosts"]}[HOST]
    assert entry["outcome"] == "unchanged" and entry["deletes"] == "-"


def test_rollback_brings_back_every_table_row_and_revision(real, tmp_path):
    run = real.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=HOST, timeout=1800,
                        extra_vars={"agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-5000:] + run.stderr
    assert real.revisions(HOST) == OLD_REVS
    assert all_rows(real, HOST) == real.before
    assert image_tag(real, HOST) == OLD


def test_rehearsal_finds_the_precondition_of_0a1b2c3d4e5f_before_any_change(real, tmp_path):
    """A project whose organization has no workspace: 0a1b2c3d4e5f cannot give it one (a project without any
    organization it would adopt into the oldest organization and pass), so the rehearsal on scratch copies meets
    its refusal, says so in one sentence, and nothing of the real deployment changed (no backup, no revision, no
    row)."""
    real.psql(HOST, "agenta_oss_core",
              "INSERT INTO organizations (id, name, description, created_at, updated_at, slug, owner_id, "
              "created_by_id, flags) VALUES (md5('org-orphan')::uuid, 'Orphan organization', 'no workspace', "
              "'2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z', NULL, md5('user-1')::uuid, md5('user-1')::uuid, "
              "'{\"is_personal\": false}'); "
              "INSERT INTO projects (id, project_name, is_default, organization_id) "
              "VALUES (md5('orphan')::uuid, 'Orphan', false, md5('org-orphan')::uuid)")
    before, backups = all_rows(real, HOST), manifests(real, HOST)
    run = upgrade(real, tmp_path, agenta_accept_data_loss=True, agenta_rehearse=True)
    assert run.rc != 0
    msg = task_result(run, "Rehearse the migration on scratch copies of the databases")["msg"]
    assert msg.startswith("The rehearsal on scratch copies of agenta_oss_core, agenta_oss_tracing failed: ")
    assert "0a1b2c3d4e5f" in msg and "The real databases were not touched" in msg
    assert all_rows(real, HOST) == before and real.revisions(HOST) == OLD_REVS
    assert manifests(real, HOST) == backups and image_tag(real, HOST) == OLD
    assert scratch_databases(real) == []


def test_precondition_of_0a1b2c3d4e5f_without_rehearsal_fails_and_restores(real, tmp_path):
    """Without the rehearsal, 0a1b2c3d4e5f refuses mid-run; the host is restored to what it was."""
    before = all_rows(real, HOST)
    assert "agenta_oss_core.projects" in before
    run = upgrade(real, tmp_path, agenta_accept_data_loss=True)
    assert run.rc != 0
    entry = {e["host"]: e for e in report(tmp_path, "upgrade")["hosts"]}[HOST]
    assert entry["outcome"] == "failed, restored", entry
    assert "0a1b2c3d4e5f" in entry["message"]
    assert real.revisions(HOST) == OLD_REVS and all_rows(real, HOST) == before
    assert image_tag(real, HOST) == OLD
