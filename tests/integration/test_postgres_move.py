"""A release that moves PostgreSQL to a new major (Agenta's compose went postgres:16 -> 17 at v0.94.6), on a real
lab host: G1 v0.43.0 on the lab's PostgreSQL 15 (Debian bookworm) upgraded to v0.44.5 with a release folder whose
compose file runs PostgreSQL 17 (Debian trixie's, lab/images/postgres with PG_MAJOR=17).

With -e agenta_postgres_move=true the plan says the data moves; the run backs up, keeps the 15 cluster in a volume
of its own, starts 17 on the emptied data volume, restores every database from the dumps, migrates and verifies
against the manifest; a migration that fails after the move, and the rollback, put the 15 cluster and the old
compose file back and restore the dumps. Without
the variable the same release is refused (test_real_release.py). Nothing is mocked.
"""

from __future__ import annotations

import json

import pytest

from conftest import REPO, labmod
from role_support import start_lab

HOST, OTHER = "staging-1", "production-1"
OLD, NEW = "v0.43.0", "v0.44.5"  # v0.44.5 reads the stand-in's fault switch
PLAYBOOKS = REPO / "playbooks"
VOLUME = labmod.PROJECT + "_postgres-data"
PG = labmod.PG_CONTAINER
COMPOSE_FILE = labmod.COMPOSE_DIR + "/docker-compose.gh.yml"
OLD_PG_IMAGE = "${AGENTA_LAB_POSTGRES_IMAGE:-agenta-lab/postgres:15}"


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = start_lab(lab_factory, OLD)
    labmod.load_image_into(lab.hosts[HOST].container, labmod.build_postgres_next(), labmod.NEXT_PG_IMAGE)
    lab.start = dict(revisions=lab.revisions(HOST), rows=lab.row_counts(HOST), digests=lab.table_digests(HOST),
                     compose=lab.sh(HOST, "cat", COMPOSE_FILE).stdout, other=(lab.revisions(OTHER),
                                                                            lab.table_digests(OTHER)))
    return lab


@pytest.fixture(scope="module")
def release(lab, tmp_path_factory):
    """The host's compose file with PostgreSQL 17 instead of 15 (nothing else changes)."""
    folder = tmp_path_factory.mktemp("release-pg17")
    assert OLD_PG_IMAGE in lab.start["compose"]
    (folder / "docker-compose.gh.yml").write_text(lab.start["compose"].replace(OLD_PG_IMAGE, labmod.NEXT_PG_IMAGE, 1))
    return folder


def data_major(lab) -> str:
    return lab.sh(HOST, "docker", "exec", PG, "cat", "/var/lib/postgresql/data/PG_VERSION").stdout.strip()


def volume_major(lab, volume) -> str:
    return lab.sh(HOST, "docker", "run", "--rm", "--entrypoint", "cat", "-v", f"{volume}:/v:ro", labmod.PRODUCT_PG_IMAGE,
                  "/v/PG_VERSION").stdout.strip()


def volumes(lab) -> list[str]:
    return sorted(lab.sh(HOST, "docker", "volume", "ls", "-q").stdout.split())


def pg_image(lab) -> str:
    return lab.sh(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", PG).stdout.strip()


def server_major(lab) -> str:
    return lab.psql(HOST, "postgres", "SELECT current_setting('server_version_num')")[:2]


def report(folder, name) -> dict:
    (only,) = folder.glob(f"{name}-*.json")
    return {e["host"]: e for e in json.loads(only.read_text())["hosts"]}[HOST]


def upgrade(lab, release, tmp_path, check=False, **extra):
    return lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=HOST, check=check, timeout=1200, extra_vars={
        "agenta_target_tag": NEW, "agenta_release_dir": str(release), "agenta_report_dir": str(tmp_path), **extra})


def test_check_mode_plans_the_move_and_changes_nothing(lab, release, tmp_path):
    before_volumes = volumes(lab)
    run = upgrade(lab, release, tmp_path, check=True, agenta_postgres_move=True)
    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    entry = report(tmp_path, "upgrade")
    assert entry["outcome"] == "would upgrade", entry
    assert ("PostgreSQL moves from 15 to 17: every database is restored from the backup's dumps into an emptied "
            f"{VOLUME}, and the 15 cluster is kept in a volume of its own") in entry["compose"], entry
    assert data_major(lab) == "15" and pg_image(lab) == "agenta-lab/postgres:15" and volumes(lab) == before_volumes
    assert lab.revisions(HOST) == lab.start["revisions"] and lab.table_digests(HOST) == lab.start["digests"]


def test_a_migration_that_fails_after_the_move_is_restored_onto_the_15_cluster(lab, release, tmp_path):
    """The data moved to 17, then the target's last revision fails: the restore keeps the 17 cluster aside, puts
    the 15 cluster and the old compose file back, restores the dumps; every row's md5 is as before."""
    lab.set_env(HOST, AGENTA_LAB_FAIL_REVISION="1a0000000007")  # the stand-in's fault switch, read by v0.44.5
    try:
        run = upgrade(lab, release, tmp_path, agenta_postgres_move=True)
    finally:
        lab.set_env(HOST, AGENTA_LAB_FAIL_REVISION="")
    assert run.rc != 0
    entry = report(tmp_path, "upgrade")
    assert entry["outcome"] == "failed, restored" and "1a0000000007" in entry["message"], entry
    assert data_major(lab) == "15" and server_major(lab) == "15" and pg_image(lab) == "agenta-lab/postgres:15"
    assert lab.revisions(HOST) == lab.start["revisions"]
    assert lab.row_counts(HOST) == lab.start["rows"] and lab.table_digests(HOST) == lab.start["digests"]
    assert lab.sh(HOST, "cat", COMPOSE_FILE).stdout == lab.start["compose"]
    assert [v for v in volumes(lab) if v.startswith(VOLUME + ".pg17.")], volumes(lab)
    assert (lab.revisions(OTHER), lab.table_digests(OTHER)) == lab.start["other"]


def test_the_upgrade_moves_every_row_to_postgresql_17_and_keeps_the_15_cluster(lab, release, tmp_path):
    earlier = set(volumes(lab))
    run = upgrade(lab, release, tmp_path, agenta_postgres_move=True)
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    entry = report(tmp_path, "upgrade")
    assert entry["outcome"] == "upgraded", entry
    kept = [v for v in volumes(lab) if v.startswith(VOLUME + ".pg15.") and v not in earlier]
    assert len(kept) == 1, volumes(lab)
    assert (f"Moved PostgreSQL from 15 to 17; the 15 cluster is kept in the volume {kept[0]} for the rollback "
            f"(docker volume rm {kept[0]} once it is no longer wanted).") in entry["message"], entry
    # The data volume holds a 17 cluster that runs, with every row (verify compared each table with the manifest;
    # the key tables are re-counted here with psql).
    assert data_major(lab) == "17" and server_major(lab) == "17" and pg_image(lab) == labmod.NEXT_PG_IMAGE
    assert lab.row_counts(HOST) == lab.start["rows"]
    assert lab.revisions(HOST) == {"oss": "1a0000000007"}
    assert volume_major(lab, kept[0]) == "15"
    assert lab.sh(HOST, "cat", COMPOSE_FILE).stdout == (release / "docker-compose.gh.yml").read_text()
    lab.record = lab.sh(HOST, "readlink", "-f", "/var/backups/agenta/latest").stdout.strip() + "/postgres-move.json"
    record = json.loads(lab.sh(HOST, "cat", lab.record).stdout)
    assert record["state"] == "moved" and record["kept_volume"] == kept[0] and record["from_major"] == 15
    assert lab.sh(HOST, "stat", "-c", "%a", lab.record).stdout.strip() == "600"
    assert (lab.revisions(OTHER), lab.table_digests(OTHER)) == lab.start["other"]
    lab.moved = kept[0]


def test_the_rollback_puts_the_15_cluster_and_every_row_back(lab, tmp_path):
    earlier = set(volumes(lab))
    run = lab.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=HOST, timeout=1200,
                       extra_vars={"agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert data_major(lab) == "15" and server_major(lab) == "15" and pg_image(lab) == "agenta-lab/postgres:15"
    assert lab.revisions(HOST) == lab.start["revisions"]
    assert lab.row_counts(HOST) == lab.start["rows"] and lab.table_digests(HOST) == lab.start["digests"]
    assert lab.sh(HOST, "cat", COMPOSE_FILE).stdout == lab.start["compose"]
    # The 17 cluster the rollback replaced is kept too; nothing is removed by the collection.
    replaced = [v for v in volumes(lab) if v.startswith(VOLUME + ".pg17.") and v not in earlier]
    assert len(replaced) == 1 and volume_major(lab, replaced[0]) == "17", volumes(lab)
    assert lab.moved in volumes(lab)
    record = json.loads(lab.sh(HOST, "cat", lab.record).stdout)
    assert record["state"] == "reverted" and record["replaced_volume"] == replaced[0]
    assert (lab.revisions(OTHER), lab.table_digests(OTHER)) == lab.start["other"]
