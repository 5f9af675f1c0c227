"""The operator's product, end to end on real lab hosts: upgrade-agenta.yml with a limit, a second run,
rollback-agenta.yml, the failure switch on the canary (restored, rollout stopped, report says why), --check,
and status.yml. G1 (one tree, one transaction) and G3 (parked legacy + *_oss chains, per-revision)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO

PLAYBOOKS = REPO / "playbooks"
G1_OLD, G1_NEW = "v0.43.0", "v0.44.4"
G3_OLD, G3_NEW = "v0.104.0", "v0.113.0"
G1_OLD_REVS = {"oss": "1a0000000002"}
G1_NEW_REVS = {"oss": "1a0000000006"}
G3_OLD_REVS = {"core": "park00000000", "core_oss": "c05500000001", "tracing": "park00000000", "tracing_oss": "7a5500000001"}
G3_NEW_REVS = {"core": "park00000000", "core_oss": "c05500000003", "tracing": "park00000000", "tracing_oss": "7a5500000002"}


def snapshot(lab, host):
    return lab.revisions(host), lab.row_counts(host)


def env_line(lab, host, key):
    text = lab.sh(host, "cat", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh").stdout
    return [line for line in text.splitlines() if line.startswith(key + "=")]


def latest_report(tmp: Path, name: str) -> tuple[dict, str]:
    files = sorted(tmp.glob(f"{name}-*.json"))
    assert files, f"no {name} report in {tmp}"
    data = json.loads(files[-1].read_text())
    return data, files[-1].with_suffix(".md").read_text()


def changed_per_host(run) -> dict:
    return {h: s["changed"] for h, s in run.stats.items()}


@pytest.fixture(scope="module")
def g1(lab_factory):
    return lab_factory(G1_OLD, staging=2, production=1)


def test_g1_check_mode_prints_a_plan_and_changes_nothing(g1, tmp_path):
    before = {h: snapshot(g1, h) for h in g1.hosts}
    run = g1.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging", check=True,
                      extra_vars={"agenta_target_tag": G1_NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert {h: snapshot(g1, h) for h in g1.hosts} == before
    assert env_line(g1, "staging-1", "AGENTA_API_IMAGE_TAG") == [f"AGENTA_API_IMAGE_TAG={G1_OLD}"]
    report, _ = latest_report(tmp_path, "upgrade")
    assert report["check_mode"] is True
    by_host = {e["host"]: e for e in report["hosts"]}
    assert set(by_host) == {"staging-1", "staging-2"}
    assert by_host["staging-1"]["pending"]["oss"] == ["1a0000000003", "1a0000000004", "1a0000000005", "1a0000000006"]
    assert by_host["staging-1"]["outcome"] == "would upgrade"
    # No backup was written.
    assert g1.sh("staging-1", "test", "-e", "/var/backups/agenta", check=False).returncode != 0 or \
        g1.sh("staging-1", "find", "/var/backups/agenta", "-maxdepth", "2", "-name", "manifest.json").stdout.strip() == ""


def test_g1_upgrade_staging_only(g1, tmp_path):
    prod_before = snapshot(g1, "production-1")
    rows_before = {h: g1.row_counts(h) for h in ("staging-1", "staging-2")}
    run = g1.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging",
                      extra_vars={"agenta_target_tag": G1_NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    for h in ("staging-1", "staging-2"):
        assert g1.revisions(h) == G1_NEW_REVS
        assert g1.row_counts(h) == rows_before[h]
        image = g1.sh(h, "docker", "inspect", "-f", "{{.Config.Image}}", "agenta-oss-gh-api-1").stdout.strip()
        assert image.endswith(":" + G1_NEW)
        manifests = g1.sh(h, "find", "/var/backups/agenta", "-maxdepth", "2", "-name", "manifest.json").stdout.split()
        assert len(manifests) == 1
        assert g1.sh(h, "stat", "-c", "%a", manifests[0]).stdout.strip() == "600"
    assert snapshot(g1, "production-1") == prod_before
    assert env_line(g1, "production-1", "AGENTA_API_IMAGE_TAG") == [f"AGENTA_API_IMAGE_TAG={G1_OLD}"]
    report, md = latest_report(tmp_path, "upgrade")
    assert {e["host"]: e["outcome"] for e in report["hosts"]} == {"staging-1": "upgraded", "staging-2": "upgraded"}
    assert "| staging-1 |" in md


def test_g1_second_run_changes_nothing(g1, tmp_path):
    run = g1.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging",
                      extra_vars={"agenta_target_tag": G1_NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert changed_per_host(run) == {"staging-1": 0, "staging-2": 0}
    report, _ = latest_report(tmp_path, "upgrade")
    assert {e["outcome"] for e in report["hosts"]} == {"unchanged"}


def test_g1_rollback_returns_old_revisions_and_rows(g1, tmp_path):
    manifests = {h: g1.sh(h, "find", "/var/backups/agenta", "-maxdepth", "2", "-name", "manifest.json").stdout.split()[0]
                 for h in ("staging-1", "staging-2")}
    expected = {h: json.loads(g1.sh(h, "cat", m).stdout) for h, m in manifests.items()}
    run = g1.playbook(PLAYBOOKS / "rollback-agenta.yml", limit="staging",
                      extra_vars={"agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    for h in ("staging-1", "staging-2"):
        assert g1.revisions(h) == G1_OLD_REVS == expected[h]["revisions"]
        for db in expected[h]["databases"]:
            for table, count in db["tables"].items():
                assert int(g1.psql(h, db["name"], f'SELECT count(*) FROM "{table}"')) == count, (h, db["name"], table)
        image = g1.sh(h, "docker", "inspect", "-f", "{{.Config.Image}}", "agenta-oss-gh-api-1").stdout.strip()
        assert image.endswith(":" + G1_OLD)


def test_g1_failure_on_the_canary_restores_it_and_stops_the_rollout(g1, tmp_path):
    g1.set_env("staging-1", AGENTA_LAB_FAIL_REVISION="1a0000000004")
    s2_before = snapshot(g1, "staging-2")
    s2_env = g1.sh("staging-2", "sha256sum", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh").stdout
    s2_backups = g1.sh("staging-2", "find", "/var/backups/agenta", "-maxdepth", "2", "-name", "manifest.json").stdout.split()
    s1_rows = g1.row_counts("staging-1")
    run = g1.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging",
                      extra_vars={"agenta_target_tag": G1_NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc != 0
    # The canary is back where its fresh manifest says, with every row.
    manifests = sorted(g1.sh("staging-1", "find", "/var/backups/agenta", "-maxdepth", "2", "-name", "manifest.json").stdout.split())
    manifest = json.loads(g1.sh("staging-1", "cat", manifests[-1]).stdout)
    assert g1.revisions("staging-1") == manifest["revisions"] == G1_OLD_REVS
    assert g1.row_counts("staging-1") == s1_rows
    assert g1.psql("staging-1", "agenta_oss", "SELECT to_regclass('apps') IS NOT NULL") == "t"
    assert env_line(g1, "staging-1", "AGENTA_API_IMAGE_TAG") == [f"AGENTA_API_IMAGE_TAG={G1_OLD}"]
    # The second staging host was never touched.
    assert snapshot(g1, "staging-2") == s2_before
    assert g1.sh("staging-2", "sha256sum", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh").stdout == s2_env
    assert g1.sh("staging-2", "find", "/var/backups/agenta", "-maxdepth", "2", "-name", "manifest.json").stdout.split() == s2_backups
    report, md = latest_report(tmp_path, "upgrade")
    by_host = {e["host"]: e for e in report["hosts"]}
    assert by_host["staging-1"]["outcome"] == "failed, restored"
    assert "1a0000000004" in by_host["staging-1"]["message"]
    assert by_host["staging-2"]["outcome"] == "not reached"
    assert "1a0000000004" in md
    g1.set_env("staging-1", AGENTA_LAB_FAIL_REVISION="")


def test_status_table(g1, tmp_path):
    run = g1.playbook(PLAYBOOKS / "status.yml", check=True, extra_vars={"agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    report, _ = latest_report(tmp_path, "status")
    by_host = {e["host"]: e for e in report["hosts"]}
    assert set(by_host) == {"staging-1", "staging-2", "production-1"}
    assert by_host["production-1"]["revisions"] == G1_OLD_REVS
    assert by_host["production-1"]["image_tag"] == G1_OLD
    assert by_host["staging-1"]["last_backup"] != "none"
    assert by_host["production-1"]["last_backup"] == "none"


# ------------------------------------------------------------------------------------------------- G3
@pytest.fixture(scope="module")
def g3(lab_factory):
    return lab_factory(G3_OLD, staging=2, production=1)


def test_g3_failure_mid_chain_restores_the_canary(g3, tmp_path):
    """core_oss is migrated per revision: c05500000002 commits before c05500000003 fails. Only the backup
    brings the host back to its manifest; the second staging host is never touched."""
    g3.set_env("staging-1", AGENTA_LAB_FAIL_REVISION="c05500000003")
    s1_before, s2_before = snapshot(g3, "staging-1"), snapshot(g3, "staging-2")
    run = g3.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging",
                      extra_vars={"agenta_target_tag": G3_NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc != 0
    assert snapshot(g3, "staging-1") == s1_before
    assert s1_before[0] == G3_OLD_REVS
    assert snapshot(g3, "staging-2") == s2_before
    report, _ = latest_report(tmp_path, "upgrade")
    by_host = {e["host"]: e for e in report["hosts"]}
    assert by_host["staging-1"]["outcome"] == "failed, restored"
    assert "c05500000003" in by_host["staging-1"]["message"]
    g3.set_env("staging-1", AGENTA_LAB_FAIL_REVISION="")


def test_g3_upgrade_staging_then_production(g3, tmp_path):
    prod_before = snapshot(g3, "production-1")
    run = g3.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging",
                      extra_vars={"agenta_target_tag": G3_NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    for h in ("staging-1", "staging-2"):
        assert g3.revisions(h) == G3_NEW_REVS
    assert snapshot(g3, "production-1") == prod_before
    run = g3.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="production",
                      extra_vars={"agenta_target_tag": G3_NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert g3.revisions("production-1") == G3_NEW_REVS
    assert g3.row_counts("production-1") == prod_before[1]


def test_g1_auto_migration_off_then_on(g1):
    """auto-migration.yml off, then a new release `up -d`: nothing migrates; on: it migrates by itself."""
    host = "production-1"
    run = g1.playbook(PLAYBOOKS / "auto-migration.yml", limit="production", extra_vars={"agenta_auto_migration": "off"})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert env_line(g1, host, "AGENTA_AUTO_MIGRATIONS") == ["AGENTA_AUTO_MIGRATIONS=false"]
    g1.set_env(host, AGENTA_API_IMAGE_TAG=G1_NEW)
    g1.compose(host, "up", "-d")
    assert g1.revisions(host) == G1_OLD_REVS
    run = g1.playbook(PLAYBOOKS / "auto-migration.yml", limit="production", extra_vars={"agenta_auto_migration": "on"})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert env_line(g1, host, "AGENTA_AUTO_MIGRATIONS") == ["AGENTA_AUTO_MIGRATIONS=true"]
    assert g1.revisions(host) == G1_NEW_REVS
    env = g1.sh(host, "docker", "inspect", "-f", "{{json .Config.Env}}", "agenta-oss-gh-api-1").stdout
    assert "AGENTA_AUTO_MIGRATIONS=true" in json.loads(env)


def test_auto_migration_playbook_refuses_bad_input(g1):
    before = g1.sh("production-1", "sha256sum", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh").stdout
    run = g1.playbook(PLAYBOOKS / "auto-migration.yml", limit="production", extra_vars={"agenta_auto_migration": "maybe"})
    assert run.rc != 0
    assert "Set agenta_auto_migration to on or off" in run.stdout
    assert g1.sh("production-1", "sha256sum", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh").stdout == before


def test_g3_rollback_by_downgrade_is_refused_when_a_step_is_irreversible(g3, tmp_path):
    """After the upgrade, the way back runs through 7a5500000002 (downgrade does nothing) and c05500000003
    (downgrade raises NotImplementedError): the downgrade method is refused before anything changes."""
    before = snapshot(g3, "production-1")
    assert before[0] == G3_NEW_REVS
    run = g3.playbook(PLAYBOOKS / "rollback-agenta.yml", limit="production",
                      extra_vars={"agenta_rollback_method": "downgrade", "agenta_report_dir": str(tmp_path)})
    assert run.rc != 0
    assert "Refusing to downgrade chain tracing_oss through 7a5500000002: its downgrade does nothing" in run.stdout, \
        run.stdout[-3000:]
    assert snapshot(g3, "production-1") == before
