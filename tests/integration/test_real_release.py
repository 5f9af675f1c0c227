"""Agenta's REAL releases on a lab host: v0.103.5 -> v0.113.0 through the operator's playbooks.

The host's schema was created by v0.103.5's own runner (the compose `alembic` service at the first `up -d`) and
seeded through SQL that respects the real schema (lab/standin/seed/real-g2-*.sql), with rows in every legacy
table that v0.113.0's 3d4e5f6a7b8c_drop_legacy_tables drops. Nothing is mocked: real dockerd, PostgreSQL,
Alembic, Agenta's migration code and runner, ansible-playbook.

One lab host serves the whole module, in order: --check (the plan names what will be deleted, nothing changes),
the refusal without agenta_accept_data_loss, the upgrade (verify reports the drops as intended, the release's
runner ran under the collection's lock), a second run (nothing changes), the rollback (every table, row and
revision back), then the precondition fault of 0a1b2c3d4e5f (a project without organization).

Every upgrade brings the release's compose file (agenta_release_dir, lab/compose/releases/): v0.113.0 renamed
every worker of v0.103.5, so the upgrade removes the old workers and starts the new ones, and the rollback puts
back the old file and its workers. A release file that does not validate is refused before anything changes.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO, labmod

PLAYBOOKS = REPO / "playbooks"
OLD, NEW = "real-v0.103.5", "real-v0.113.0"
RELEASES = REPO / "lab" / "compose" / "releases"
OLD_WORKERS = {"worker-evaluations", "worker-tracing", "worker-webhooks", "worker-events"}
NEW_WORKERS = {"worker-streams", "worker-queues", "runner"}
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


def running_services(lab, host) -> set[str]:
    return set(lab.compose(host, "ps", "--services", "--status", "running").stdout.split())


def compose_file(lab, host) -> str:
    return lab.sh(host, "cat", f"{labmod.COMPOSE_DIR}/docker-compose.gh.yml").stdout


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
    lab = lab_factory(OLD, staging=1, production=0, rows=20)
    lab.before = all_rows(lab, HOST)
    lab.services_before = running_services(lab, HOST)
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
                        extra_vars={"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path),
                                    "agenta_release_dir": str(RELEASES / NEW), **extra})


def test_lab_host_was_made_by_the_real_runner(real):
    assert real.revisions(HOST) == OLD_REVS
    assert sum(1 for k in real.before if k.startswith("agenta_oss_core.")) == 51
    for table in DROPPED:
        assert real.before[f"agenta_oss_core.{table}"] > 0, table
    # The host runs v0.103.5's compose file, with its four workers.
    assert real.services_before == {"postgres", "api"} | OLD_WORKERS
    assert compose_file(real, HOST) == (RELEASES / OLD / "docker-compose.gh.yml").read_text()


def test_a_release_compose_file_that_does_not_validate_is_refused_before_any_change(real, tmp_path):
    folder = tmp_path / "release"
    folder.mkdir()
    text = (RELEASES / NEW / "docker-compose.gh.yml").read_text().replace(
        "${ENV_FILE:-./.env.oss.gh}", "${AGENTA_STORE_BUCKET:?set AGENTA_STORE_BUCKET}", 1)
    (folder / "docker-compose.gh.yml").write_text(text)
    run = upgrade(real, tmp_path, agenta_release_dir=str(folder), agenta_accept_data_loss=True)
    assert run.rc != 0
    msg = task_result(run, "Plan the release's compose file")["msg"]
    assert msg.startswith("The release's compose file does not validate with ") and "AGENTA_STORE_BUCKET" in msg
    assert "Nothing was changed." in msg and "password" not in msg
    entry = {e["host"]: e for e in report(tmp_path, "upgrade")["hosts"]}[HOST]
    assert entry["outcome"] == "refused"
    # A folder without the release's compose file is refused by name.
    run = upgrade(real, tmp_path, agenta_release_dir=str(tmp_path / "nosuch"))
    assert run.rc != 0 and "agenta_release_dir" in run.stdout and "is not a file" in run.stdout
    assert all_rows(real, HOST) == real.before and real.revisions(HOST) == OLD_REVS
    assert running_services(real, HOST) == real.services_before and manifests(real, HOST) == []
    assert compose_file(real, HOST) == (RELEASES / OLD / "docker-compose.gh.yml").read_text()


def test_a_release_that_moves_postgresql_to_another_major_is_refused(real, tmp_path):
    """Agenta's compose moved postgres 16 -> 17 at v0.94.6, and PostgreSQL 18 images keep their data outside the
    old mount. A release file with Debian's real PostgreSQL 17 (lab/images/postgres-17) on this host's 15 cluster
    is refused before anything changes, and so is one whose data folder is on none of its volumes."""
    labmod.load_image_into(real.hosts[HOST].container, labmod.build_postgres_next(), labmod.NEXT_PG_IMAGE)
    # What the refusal prevents: PostgreSQL 17 does not start on this data (read-only here, it stops at the check).
    probe = real.sh(HOST, "docker", "run", "--rm", "--user", "postgres", "--entrypoint", "postgres", "-v",
                    "agenta-oss-gh_postgres-data:/var/lib/postgresql/data:ro", labmod.NEXT_PG_IMAGE,
                    "-D", "/var/lib/postgresql/data", check=False)
    assert probe.returncode != 0 and "database files are incompatible with server" in probe.stderr
    text = (RELEASES / NEW / "docker-compose.gh.yml").read_text().replace(
        "${AGENTA_LAB_POSTGRES_IMAGE:-agenta-lab/postgres:15}", labmod.NEXT_PG_IMAGE, 1)
    cases = {
        "major": (text, "The release's compose file moves PostgreSQL from 15 to 17 (agenta-lab/postgres:17), and "
                        "PostgreSQL 17 cannot start on the 15 cluster in agenta-oss-gh_postgres-data; keep the "
                        "postgres image at agenta-lab/postgres:15 in the release's compose file"),
        "pgdata": (text.replace("    environment:\n", "    environment:\n      PGDATA: /var/lib/postgresql/17/docker\n", 1),
                   "The release's postgres (agenta-lab/postgres:17) keeps its data at /var/lib/postgresql/17/docker, "
                   "which none of its volumes holds (/var/lib/postgresql/data), so it would start on an empty database"),
    }
    for name, (content, sentence) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "docker-compose.gh.yml").write_text(content)
        run = upgrade(real, tmp_path / name, agenta_release_dir=str(folder), agenta_accept_data_loss=True, check=True)
        assert run.rc != 0, name
        msg = task_result(run, "Plan the release's compose file")["msg"]
        assert msg.startswith(sentence) and msg.endswith("Nothing was changed."), msg
    assert all_rows(real, HOST) == real.before and real.revisions(HOST) == OLD_REVS
    assert running_services(real, HOST) == real.services_before and manifests(real, HOST) == []
    assert compose_file(real, HOST) == (RELEASES / OLD / "docker-compose.gh.yml").read_text()
    assert real.sh(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", "agenta-oss-gh-postgres-1").stdout.strip() \
        == "agenta-lab/postgres:15"


def pycache_files(lab, host):
    """Every file and folder of the one-shots' compiled Python on the host (module_utils/pycache.py), with mode,
    owner and mtime."""
    return lab.sh(host, "sh", "-c", "find /var/cache/agenta-fleet -printf '%p %m %u %T@\\n' 2>/dev/null | sort").stdout


def test_check_mode_names_what_the_release_deletes_and_changes_nothing(real, tmp_path):
    cache_before = pycache_files(real, HOST)
    run = upgrade(real, tmp_path, check=True, agenta_rehearse=True)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    # Check mode reads the image's pycache folder (read-only) when there is one, and makes or writes none.
    assert pycache_files(real, HOST) == cache_before
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
    # The compose plan: the renamed workers, the pinned tag, the settings the release's env example adds.
    assert entry["compose"].startswith("The release's compose file replaces the deployment's; adds service(s) "
                                       "runner, worker-queues, worker-streams; removes service(s) worker-evaluations, "
                                       "worker-events, worker-tracing, worker-webhooks (4 container(s) to stop")
    assert f"pins AGENTA_API_IMAGE_TAG (was {OLD}) to {NEW}" in entry["compose"]
    assert "AGENTA_STORE_ENDPOINT_URL" in entry["compose"]
    assert running_services(real, HOST) == real.services_before
    assert compose_file(real, HOST) == (RELEASES / OLD / "docker-compose.gh.yml").read_text()


def test_an_upgrade_that_deletes_rows_needs_the_acknowledgement(real, tmp_path):
    run = upgrade(real, tmp_path)
    assert run.rc != 0
    msg = task_result(run, "Refuse a plan the run cannot take")["msg"]
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
    verified = task_result(run, "Record what was verified")["ansible_facts"]["verify_result"]
    intended = {i["table"]: i for i in verified["intended"]}
    for table in DROPPED:
        item = intended[f"agenta_oss_core.{table}"]
        assert item["by"] == "3d4e5f6a7b8c" and item["rows_after"] is None
        assert item["rows_before"] == real.before[f"agenta_oss_core.{table}"]
    entry = {e["host"]: e for e in report(tmp_path, "upgrade")["hosts"]}[HOST]
    assert entry["outcome"] == "upgraded"
    # The release's services run, the old workers are gone (not left running as orphans), its file is in place
    # and the old one is in the backup.
    assert running_services(real, HOST) == {"postgres", "api"} | NEW_WORKERS
    assert not set(real.sh(HOST, "docker", "ps", "-a", "--format", "{{.Names}}").stdout.split()) & {
        f"agenta-oss-gh-{w}-1" for w in OLD_WORKERS}
    assert compose_file(real, HOST) == (RELEASES / NEW / "docker-compose.gh.yml").read_text()
    manifest = json.loads(real.sh(HOST, "cat", manifests(real, HOST)[0]).stdout)
    kept = real.sh(HOST, "cat", str(Path(manifests(real, HOST)[0]).parent / manifest["compose_file"]["file"])).stdout
    assert kept == (RELEASES / OLD / "docker-compose.gh.yml").read_text()
    mode = real.sh(HOST, "stat", "-c", "%a", f"{labmod.COMPOSE_DIR}/docker-compose.gh.yml").stdout.strip()
    assert mode == "644"
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
    # The plan and the migration ran in one-shot containers of the new image that kept their compiled Python in
    # the image's folder on the host (private: 0700 folders of root's, the image's own named by its id).
    image_id = real.sh(HOST, "docker", "image", "inspect", "-f", "{{.Id}}",
                       f"ghcr.io/agenta-ai/agenta-api:{NEW}").stdout.strip().split(":")[-1]
    cache = pycache_files(real, HOST)
    assert "/var/cache/agenta-fleet 700 root " in cache and "/var/cache/agenta-fleet/pycache 700 root " in cache
    assert f"/var/cache/agenta-fleet/pycache/{image_id[:16]} 700 root " in cache, cache[:2000]
    assert f"/var/cache/agenta-fleet/pycache/{image_id[:16]}/usr/" in cache and ".pyc " in cache, cache[:2000]


def test_second_run_changes_nothing(real, tmp_path):
    before = all_rows(real, HOST)
    run = upgrade(real, tmp_path)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert all_rows(real, HOST) == before and real.revisions(HOST) == NEW_REVS
    entry = {e["host"]: e for e in report(tmp_path, "upgrade")["hosts"]}[HOST]
    assert entry["outcome"] == "unchanged" and entry["deletes"] == "-"
    # The plan was read by the driver in the running API, whose Python writes no bytecode (as the release's
    # image): the driver kept what it compiled in the container's /tmp for the next read.
    cached = real.compose(HOST, "exec", "-T", "api", "find", "/tmp/agenta-fleet-pycache", "-name", "*.pyc").stdout
    assert "/tmp/agenta-fleet-pycache/usr/" in cached, cached[:1000]
    # Nothing to install again; the settings the env file still lacks are still named.
    assert entry["compose"].startswith("The release's env example has setting(s) the env file lacks")
    assert running_services(real, HOST) == {"postgres", "api"} | NEW_WORKERS


def test_a_rollback_by_downgrade_is_refused_across_the_compose_file_change(real, tmp_path):
    run = real.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=HOST, timeout=600,
                        extra_vars={"agenta_report_dir": str(tmp_path), "agenta_rollback_method": "downgrade"})
    assert run.rc != 0
    msg = task_result(run, "Refuse a downgrade across a compose file change")["msg"]
    assert msg.startswith(f"The compose file on {HOST} differs from the one in ") and "restore method" in msg, msg
    assert real.revisions(HOST) == NEW_REVS and image_tag(real, HOST) == NEW
    assert compose_file(real, HOST) == (RELEASES / NEW / "docker-compose.gh.yml").read_text()


def test_rollback_brings_back_every_table_row_and_revision(real, tmp_path):
    run = real.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=HOST, timeout=1800,
                        extra_vars={"agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-5000:] + run.stderr
    assert real.revisions(HOST) == OLD_REVS
    assert all_rows(real, HOST) == real.before
    assert image_tag(real, HOST) == OLD
    # v0.103.5's compose file and its workers are back, with the file's mode; v0.113.0's workers are gone.
    assert compose_file(real, HOST) == (RELEASES / OLD / "docker-compose.gh.yml").read_text()
    assert running_services(real, HOST) == real.services_before
    assert real.sh(HOST, "stat", "-c", "%a", f"{labmod.COMPOSE_DIR}/docker-compose.gh.yml").stdout.strip() == "644"


def test_a_release_service_that_does_not_start_is_restored_with_the_old_compose_file(real, tmp_path):
    """The migration succeeds, the release's file is installed, then one of its new workers exits at start: verify
    fails, and the restore puts back the databases, the old compose file and the old workers."""
    folder = tmp_path / "release"
    folder.mkdir()
    text = (RELEASES / NEW / "docker-compose.gh.yml").read_text()
    head, tail = text.split("  worker-queues:\n", 1)
    tail = tail.replace('restart: always', 'restart: "no"', 1).replace(
        '["python", "-c", "import signal', '["python", "-c", "raise SystemExit(3)", "import signal', 1)
    (folder / "docker-compose.gh.yml").write_text(head + "  worker-queues:\n" + tail)
    before = all_rows(real, HOST)
    run = upgrade(real, tmp_path, agenta_release_dir=str(folder), agenta_accept_data_loss=True)
    assert run.rc != 0
    entry = {e["host"]: e for e in report(tmp_path, "upgrade")["hosts"]}[HOST]
    assert entry["outcome"] == "failed, restored", entry
    assert "worker-queues" in entry["message"]
    assert real.revisions(HOST) == OLD_REVS and all_rows(real, HOST) == before
    assert image_tag(real, HOST) == OLD
    assert compose_file(real, HOST) == (RELEASES / OLD / "docker-compose.gh.yml").read_text()
    assert running_services(real, HOST) == real.services_before


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
    assert running_services(real, HOST) == real.services_before
    assert compose_file(real, HOST) == (RELEASES / OLD / "docker-compose.gh.yml").read_text()
