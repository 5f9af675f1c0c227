"""G1 -> G2 across Agenta v0.45's rename, on a real lab host: v0.43.0 (database agenta_oss, chain oss) upgraded to the
lab's v0.45.0, whose chain core continues G1's tree in agenta_oss_core and whose chain tracing starts in a new
agenta_oss_tracing (as Agenta's runner renames agenta_oss -> agenta_oss_core, supertokens_oss ->
agenta_oss_supertokens and creates agenta_oss_tracing), with the release's compose file (lab/compose/g3).

The plan shows the split; a host holding both names is refused; the run backs up under the old names, renames
(agenta.fleet.database_rename, record next to the manifest), migrates and verifies against the manifest under the new
names; a migration that fails after the rename, and the rollback, drop the new names and restore the old ones.
Nothing is mocked.
"""

from __future__ import annotations

import json

import pytest

from conftest import REPO, labmod
from role_support import start_lab

HOST, OTHER = "staging-1", "production-1"
OLD, NEW = "v0.43.0", "v0.45.0"
PLAYBOOKS = REPO / "playbooks"
RELEASE = REPO / "lab" / "compose" / "g3"  # the lab's compose file and env example of the split releases
COMPOSE_FILE = labmod.COMPOSE_DIR + "/docker-compose.gh.yml"
G1_NAMES = ["agenta_oss", "supertokens_oss"]
G2_NAMES = ["agenta_oss_core", "agenta_oss_supertokens", "agenta_oss_tracing"]
KEY = ("projects", "apps", "app_variants", "testsets", "evaluations")


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = start_lab(lab_factory, OLD)
    lab.start = dict(revisions=lab.revisions(HOST), digests=lab.table_digests(HOST), rows=counts(lab, "agenta_oss"),
                     compose=lab.sh(HOST, "cat", COMPOSE_FILE).stdout,
                     other=(lab.revisions(OTHER), lab.table_digests(OTHER)))
    assert databases(lab) == G1_NAMES
    return lab


def databases(lab) -> list[str]:
    return lab.psql(HOST, "postgres", "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database "
                                      "WHERE datname LIKE 'agenta%' OR datname LIKE 'supertokens%'").split()


def counts(lab, db) -> dict[str, int]:
    return {t: int(lab.psql(HOST, db, f"SELECT count(*) FROM {t}")) for t in KEY}


def report(folder, name="upgrade") -> dict:
    (only,) = folder.glob(f"{name}-*.json")
    return {e["host"]: e for e in json.loads(only.read_text())["hosts"]}[HOST]


def upgrade(lab, tmp_path, check=False, **extra):
    return lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=HOST, check=check, timeout=1200, extra_vars={
        "agenta_target_tag": NEW, "agenta_release_dir": str(RELEASE), "agenta_report_dir": str(tmp_path), **extra})


def assert_as_at_start(lab):
    assert databases(lab) == G1_NAMES
    assert lab.revisions(HOST) == lab.start["revisions"] and lab.table_digests(HOST) == lab.start["digests"]
    assert lab.sh(HOST, "cat", COMPOSE_FILE).stdout == lab.start["compose"]
    assert (lab.revisions(OTHER), lab.table_digests(OTHER)) == lab.start["other"]


def test_check_mode_shows_the_split_and_changes_nothing(lab, tmp_path):
    run = upgrade(lab, tmp_path, check=True)
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    entry = report(tmp_path)
    assert entry["outcome"] == "would upgrade", entry
    assert entry["split"] == [{"database": "agenta_oss_core", "from": "agenta_oss"},
                              {"database": "agenta_oss_tracing", "from": None}], entry
    # Planned as if the split had run: core continues from G1's revision, tracing starts empty.
    assert entry["pending"] == {"core": [f"1a000000000{i}" for i in range(3, 8)],
                                "tracing": ["7ace00000001", "7ace00000002"]}, entry
    assert ("the split of Agenta v0.45 is pending (agenta_oss becomes agenta_oss_core, agenta_oss_tracing is "
            "created)") in run.stdout
    assert_as_at_start(lab)


def test_a_host_with_both_names_is_refused_before_anything_changes(lab, tmp_path):
    """An agenta_oss_core made by hand (or left by an old restore) beside agenta_oss: Agenta's runner would skip the
    rename and install a fresh schema in it while the data stays in agenta_oss."""
    lab.psql(HOST, "postgres", "CREATE DATABASE agenta_oss_core")
    try:
        run = upgrade(lab, tmp_path)
        assert run.rc != 0
        entry = report(tmp_path)
        assert entry["outcome"] == "refused", entry
        assert ("Both agenta_oss (at 1a0000000002) and agenta_oss_core (no revision: empty or new) exist on this "
                "server: the data is in agenta_oss") in entry["message"], entry["message"]
        # A leftover with a revision (a v0.44 backup restored after the split, say) is refused as well, in the plan.
        lab.psql(HOST, "agenta_oss_core", "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); "
                                          "INSERT INTO alembic_version VALUES ('1a0000000007')")
        for old in tmp_path.glob("upgrade-*"):
            old.unlink()
        run = upgrade(lab, tmp_path, check=True)
        assert run.rc != 0
        assert ("Both agenta_oss (at 1a0000000002) and agenta_oss_core (at 1a0000000007) exist on this server, so "
                "one of them is left over") in report(tmp_path)["message"], report(tmp_path)
    finally:
        lab.psql(HOST, "postgres", "DROP DATABASE agenta_oss_core")
    assert_as_at_start(lab)


def test_a_session_on_the_old_database_refuses_the_rename_and_the_api_runs_again(lab, tmp_path):
    """A client outside the compose project (another host sharing the database, say) still uses agenta_oss after the
    project's containers stopped: nothing is renamed, the stopped containers run again, the report says so in one
    sentence, and the backup is not restored (nothing changed since it was taken)."""
    holder = lab.sh(HOST, "sh", "-c", f"PGPASSWORD={labmod.DB_PASSWORD} psql -h 127.0.0.1 -U username -d agenta_oss "
                                      "-c 'SELECT pg_sleep(120)' >/dev/null 2>&1 & echo $!").stdout.strip()
    try:
        run = upgrade(lab, tmp_path, agenta_rename_session_wait=2)
    finally:
        lab.sh(HOST, "kill", holder, check=False)
        # The server runs pg_sleep on after its client is gone: the session is ended server-side.
        lab.psql(HOST, "postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE query LIKE 'SELECT pg_sleep(120)%'")
    assert run.rc != 0
    entry = report(tmp_path)
    assert entry["outcome"] == "failed, nothing changed", entry
    assert ("Rename the databases as Agenta v0.45 does: Other sessions still use agenta_oss, supertokens_oss after 2 s: "
            "agenta_oss (psql from ") in entry["message"], entry["message"]
    assert "Nothing was renamed. The containers it stopped were started again." in entry["message"]
    # No restore ran (its safety backup would be the first in pre-restore/).
    assert lab.sh(HOST, "test", "-e", "/var/backups/agenta/pre-restore", check=False).returncode == 1
    assert lab.sh(HOST, "docker", "inspect", "-f", "{{.State.Running}}", "agenta-oss-gh-api-1").stdout.strip() == "true"
    assert_as_at_start(lab)


def test_a_migration_that_fails_after_the_rename_is_restored_under_the_old_names(lab, tmp_path):
    lab.set_env(HOST, AGENTA_LAB_FAIL_REVISION="1a0000000007")  # the stand-in's fault switch (core continues G1)
    try:
        run = upgrade(lab, tmp_path)
    finally:
        lab.set_env(HOST, AGENTA_LAB_FAIL_REVISION="")
    assert run.rc != 0
    entry = report(tmp_path)
    assert entry["outcome"] == "failed, restored" and "1a0000000007" in entry["message"], entry
    assert_as_at_start(lab)


def test_the_upgrade_renames_migrates_and_verifies_every_row(lab, tmp_path):
    run = upgrade(lab, tmp_path)
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    entry = report(tmp_path)
    assert entry["outcome"] == "upgraded", entry
    assert ("Renamed agenta_oss to agenta_oss_core and supertokens_oss to agenta_oss_supertokens and created "
            "agenta_oss_tracing, as Agenta v0.45 does.") in entry["message"], entry
    assert databases(lab) == G2_NAMES
    assert lab.revision(HOST, "core") == "1a0000000007" and lab.revision(HOST, "tracing") == "7ace00000002"
    # Every key table's rows are in the renamed database (verify compared them with the manifest, which names
    # agenta_oss); re-counted here with psql.
    assert counts(lab, "agenta_oss_core") == lab.start["rows"]
    assert "ghcr.io/agenta-ai/agenta-api:v0.45.0" in lab.sh(HOST, "docker", "ps", "--format", "{{.Image}}").stdout
    assert lab.sh(HOST, "cat", COMPOSE_FILE).stdout == (RELEASE / "docker-compose.gh.yml").read_text()
    path = lab.sh(HOST, "readlink", "-f", "/var/backups/agenta/latest").stdout.strip() + "/database-rename.json"
    record = json.loads(lab.sh(HOST, "cat", path).stdout)
    assert record["state"] == "renamed" and record["created"] == ["agenta_oss_tracing"], record
    assert record["renamed"] == {"agenta_oss": "agenta_oss_core", "supertokens_oss": "agenta_oss_supertokens"}
    assert lab.sh(HOST, "stat", "-c", "%a", path).stdout.strip() == "600"
    manifest = json.loads(lab.sh(HOST, "cat", path.replace("database-rename.json", "manifest.json")).stdout)
    assert sorted(d["name"] for d in manifest["databases"]) == G1_NAMES
    assert manifest["revisions"] == {"oss": "1a0000000002"} and manifest["layout"] == "g1", manifest
    assert (lab.revisions(OTHER), lab.table_digests(OTHER)) == lab.start["other"]


def test_the_rollback_puts_the_old_names_and_every_row_back(lab, tmp_path):
    run = lab.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=HOST, timeout=1200,
                       extra_vars={"agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "drop agenta_oss_core, agenta_oss_supertokens, agenta_oss_tracing (made by the v0.45 rename" in run.stdout
    assert_as_at_start(lab)
    assert "ghcr.io/agenta-ai/agenta-api:v0.43.0" in lab.sh(HOST, "docker", "ps", "--format", "{{.Image}}").stdout
    # The databases the rollback dropped are in its safety backup.
    safety = lab.sh(HOST, "sh", "-c", "cat /var/backups/agenta/pre-restore/latest/manifest.json").stdout
    assert sorted(d["name"] for d in json.loads(safety)["databases"]) == G2_NAMES
