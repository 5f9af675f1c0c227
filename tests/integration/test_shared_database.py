"""Hosts that share one database (the same agenta_database_id) on real lab hosts: `lab.py up --shared-db` points
staging-2's stack at staging-1's PostgreSQL over the lab network. The upgrade migrates that database once (on
staging-1, which backs it up); staging-2 only takes the new image and verifies. A limit that leaves one of them out
is refused. The rollback restores the database once and brings staging-2 back to the manifest's image. G3 layout."""
from __future__ import annotations

import json

import pytest

from conftest import REPO
import lab as labmod

PLAYBOOKS = REPO / "playbooks"
OLD, NEW = "v0.104.0", "v0.113.0"
OLD_REVS = {"core": "park00000000", "core_oss": "c05500000001", "tracing": "park00000000", "tracing_oss": "7a5500000001"}
NEW_REVS = {"core": "park00000000", "core_oss": "c05500000003", "tracing": "park00000000", "tracing_oss": "7a5500000002"}
ENV = labmod.ENV_FILE


@pytest.fixture(scope="module")
def lab(lab_factory):
    return lab_factory(OLD, staging=2, production=1, shared_db=True)


def api_image(lab, host):
    return lab.sh(host, "docker", "inspect", "-f", "{{.Config.Image}}", "agenta-oss-gh-api-1").stdout.strip()


def manifests(lab, host):
    found = lab.sh(host, "find", "/var/backups/agenta", "-maxdepth", "2", "-name", "manifest.json", check=False)
    return sorted(found.stdout.split())


def test_the_lab_shares_the_database(lab):
    inv = lab.inventory.read_text()
    assert inv.count(f"agenta_database_id: {lab.name}-staging-1") == 2
    env = lab.sh("staging-2", "cat", ENV).stdout
    address = lab.sh("staging-1", "hostname", "-i").stdout.split()[0]
    assert f"@{address}:5432/agenta_oss_core" in env
    # staging-2's own postgres holds no Agenta schema: everything it runs uses staging-1's databases.
    assert lab.revision("staging-2", "core_oss") is None


def test_a_limit_that_leaves_out_a_sharing_host_is_refused(lab, tmp_path):
    env_before = lab.sh("staging-2", "sha256sum", ENV).stdout
    run = lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging-2",
                       extra_vars={"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc != 0
    assert "staging-2 shares its database" in run.stdout and "with staging-1, which this run does not include" in run.stdout
    assert lab.revisions("staging-1") == OLD_REVS
    assert lab.sh("staging-2", "sha256sum", ENV).stdout == env_before


def test_a_release_folder_is_refused_for_a_host_that_shares_a_database(lab, tmp_path):
    """Only the owner's backup keeps the compose file, so the release's compose file is refused for the others."""
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "docker-compose.gh.yml").write_text((REPO / "lab" / "compose" / "g3" / "docker-compose.gh.yml").read_text())
    env_before = lab.sh("staging-2", "sha256sum", ENV).stdout
    run = lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging",
                       extra_vars={"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path),
                                   "agenta_release_dir": str(folder)})
    assert run.rc != 0
    assert ("staging-2 uses the database of staging-1, and agenta_release_dir is not supported for such hosts yet"
            in run.stdout)
    assert lab.revisions("staging-1") == OLD_REVS and manifests(lab, "staging-1") == []
    assert lab.sh("staging-2", "sha256sum", ENV).stdout == env_before


def test_upgrade_migrates_the_shared_database_once_and_both_hosts_verify(lab, tmp_path):
    rows = lab.row_counts("staging-1")
    prod = lab.revisions("production-1"), lab.row_counts("production-1")
    run = lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging",
                       extra_vars={"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert lab.revisions("staging-1") == NEW_REVS
    assert lab.row_counts("staging-1") == rows
    for h in ("staging-1", "staging-2"):
        assert api_image(lab, h).endswith(":" + NEW)
        assert labmod.api_health(int(lab.hosts[h].api_url.rsplit(":", 1)[1])) == 200
    # Once: the owner backed up and migrated; staging-2 has no backup, no migration record, and its own alembic
    # service found nothing to run.
    assert len(manifests(lab, "staging-1")) == 1
    state = json.loads(lab.sh("staging-1", "cat", "/var/lib/agenta-fleet/last-migration.json").stdout)
    assert state["after"] == NEW_REVS
    assert manifests(lab, "staging-2") == []
    assert lab.sh("staging-2", "test", "-e", "/var/lib/agenta-fleet/last-migration.json", check=False).returncode != 0
    proc = lab.sh("staging-2", "docker", "logs", "agenta-oss-gh-alembic-1")
    logs = proc.stdout + proc.stderr
    assert "Context impl PostgresqlImpl" in logs  # it did run, against the shared database
    assert "Running upgrade" not in logs
    assert lab.revision("staging-2", "core_oss") is None
    assert (lab.revisions("production-1"), lab.row_counts("production-1")) == prod
    report = json.loads(sorted(tmp_path.glob("upgrade-*.json"))[-1].read_text())
    by_host = {e["host"]: e for e in report["hosts"]}
    assert by_host["staging-1"]["outcome"] == by_host["staging-2"]["outcome"] == "upgraded"
    assert by_host["staging-2"]["backup"] == "on staging-1"

    again = lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging",
                         extra_vars={"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path)})
    assert again.rc == 0, again.stdout[-3000:]
    assert {h: s["changed"] for h, s in again.stats.items()} == {"staging-1": 0, "staging-2": 0}


def test_rollback_restores_the_shared_database_once_and_both_hosts_follow(lab, tmp_path):
    manifest = json.loads(lab.sh("staging-1", "cat", manifests(lab, "staging-1")[0]).stdout)
    run = lab.playbook(PLAYBOOKS / "rollback-agenta.yml", limit="staging", extra_vars={"agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert lab.revisions("staging-1") == OLD_REVS == manifest["revisions"]
    for db in manifest["databases"]:
        for table, count in db["tables"].items():
            assert int(lab.psql("staging-1", db["name"], f'SELECT count(*) FROM "{table}"')) == count, (db["name"], table)
    for h in ("staging-1", "staging-2"):
        assert api_image(lab, h).endswith(":" + OLD)
    assert manifests(lab, "staging-2") == []
    report = json.loads(sorted(tmp_path.glob("rollback-*.json"))[-1].read_text())
    assert {e["host"]: e["outcome"] for e in report["hosts"]} == {"staging-1": "rolled back", "staging-2": "rolled back"}


def test_hosts_sharing_a_database_in_one_batch_wait_for_the_owner(lab, tmp_path):
    """One batch (canary 100 %): staging-2 runs the same tasks beside staging-1 and still takes the new image only
    after staging-1 migrated and verified."""
    assert lab.revisions("staging-1") == OLD_REVS
    run = lab.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging",
                       extra_vars={"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path),
                                   "agenta_upgrade_canary": "100%"})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert lab.revisions("staging-1") == NEW_REVS
    for h in ("staging-1", "staging-2"):
        assert api_image(lab, h).endswith(":" + NEW)
    report = json.loads(sorted(tmp_path.glob("upgrade-*.json"))[-1].read_text())
    assert {e["host"]: e["outcome"] for e in report["hosts"]} == {"staging-1": "upgraded", "staging-2": "upgraded"}
