"""The operator's product on real lab hosts, G3 layout (parked legacy + *_oss chains, per-revision commits):
--check, the failure switch mid-chain on the canary (restored, rollout stopped, report says why), staging then
production, status.yml, the downgrade refusal, bad input. The G1 flows (upgrade with a limit, second run,
failure on the canary, rollback, auto-migration off/on) are the Molecule scenarios (molecule/, test_molecule.py);
shared databases are in test_shared_database.py, a successful downgrade in test_rollback_downgrade.py."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO

PLAYBOOKS = REPO / "playbooks"
G3_OLD, G3_NEW = "v0.104.0", "v0.113.0"
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


# ------------------------------------------------------------------------------------------------- G3
@pytest.fixture(scope="module")
def g3(lab_factory):
    return lab_factory(G3_OLD, staging=2, production=1)


def test_g3_check_mode_prints_a_plan_and_changes_nothing(g3, tmp_path):
    before = {h: snapshot(g3, h) for h in g3.hosts}
    run = g3.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit="staging", check=True,
                      extra_vars={"agenta_target_tag": G3_NEW, "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert {h: snapshot(g3, h) for h in g3.hosts} == before
    assert env_line(g3, "staging-1", "AGENTA_API_IMAGE_TAG") == [f"AGENTA_API_IMAGE_TAG={G3_OLD}"]
    report, _ = latest_report(tmp_path, "upgrade")
    assert report["check_mode"] is True
    by_host = {e["host"]: e for e in report["hosts"]}
    assert set(by_host) == {"staging-1", "staging-2"}
    assert by_host["staging-1"]["pending"]["core_oss"] == ["c05500000002", "c05500000003"]
    assert by_host["staging-1"]["pending"]["tracing_oss"] == ["7a5500000002"]
    assert by_host["staging-1"]["outcome"] == "would upgrade"
    for h in g3.hosts:  # no backup was written
        assert g3.sh(h, "find", "/var/backups/agenta", "-maxdepth", "2", "-name", "manifest.json",
                     check=False).stdout.strip() == ""


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


def test_auto_migration_playbook_refuses_bad_input(g3):
    before = g3.sh("production-1", "sha256sum", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh").stdout
    run = g3.playbook(PLAYBOOKS / "auto-migration.yml", limit="production", extra_vars={"agenta_auto_migration": "maybe"})
    assert run.rc != 0
    assert "Set agenta_auto_migration to on or off" in run.stdout
    assert g3.sh("production-1", "sha256sum", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh").stdout == before


def test_status_table(g3, tmp_path):
    run = g3.playbook(PLAYBOOKS / "status.yml", check=True, extra_vars={"agenta_report_dir": str(tmp_path)},
                      env={"ANSIBLE_SHOW_CUSTOM_STATS": "true"})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    report, _ = latest_report(tmp_path, "status")
    report_path = sorted(tmp_path.glob("status-*.json"))[-1]
    # The report is published as the run's stats (agenta.fleet.run_report publish: true), for AWX/AAP.
    stats = json.loads(run.stdout)["global_custom_stats"]["agenta_fleet_report"]
    assert (stats["run"], stats["check_mode"], stats["report"]) == ("status", True, str(report_path)), stats
    assert sorted(h["host"] for h in stats["hosts"]) == ["production-1", "staging-1", "staging-2"]
    by_host = {e["host"]: e for e in report["hosts"]}
    assert set(by_host) == {"staging-1", "staging-2", "production-1"}
    for h in by_host:
        assert by_host[h]["revisions"] == G3_NEW_REVS
        assert by_host[h]["image_tag"] == G3_NEW
        assert by_host[h]["last_backup"] != "none"


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


def test_g3_release_that_drops_a_table_is_acknowledged_verified_and_rolled_back(g3, tmp_path):
    """Stand-in v0.114.0 drops evaluation_scenarios (rows and all), the class of Agenta's v0.113.0: --check names
    the table and its rows, the run is refused without agenta_accept_data_loss, runs with it, verify reports the
    drop as the release's intent, and the rollback brings the table and its rows back."""
    host = "staging-1"
    count = lambda: g3.psql(host, "agenta_oss_core", "SELECT count(*) FROM evaluation_scenarios")  # noqa: E731
    rows, before = count(), snapshot(g3, host)
    assert int(rows) > 0 and before[0] == G3_NEW_REVS
    extra = {"agenta_target_tag": "v0.114.0", "agenta_report_dir": str(tmp_path)}
    run = g3.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=host, check=True, extra_vars=extra)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    entry = {e["host"]: e for e in latest_report(tmp_path, "upgrade")[0]["hosts"]}[host]
    assert entry["data_loss"] == [f"agenta_oss_core.evaluation_scenarios: {rows} rows, dropped by c05500000004 (chain core_oss)"]
    assert entry["deletes"] == f"1 table, {rows} rows"
    run = g3.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=host, extra_vars=extra)
    assert run.rc != 0 and "-e agenta_accept_data_loss=true" in run.stdout
    assert snapshot(g3, host) == before and count() == rows
    run = g3.playbook(PLAYBOOKS / "upgrade-agenta.yml", limit=host, extra_vars={**extra, "agenta_accept_data_loss": True})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert g3.revision(host, "core_oss") == "c05500000004"
    assert g3.psql(host, "agenta_oss_core", "SELECT to_regclass('evaluation_scenarios') IS NULL") == "t"
    entry = {e["host"]: e for e in latest_report(tmp_path, "upgrade")[0]["hosts"]}[host]
    assert entry["outcome"] == "upgraded"
    assert f"agenta_oss_core.evaluation_scenarios: {rows} rows before, dropped by c05500000004" in entry["message"]
    run = g3.playbook(PLAYBOOKS / "rollback-agenta.yml", limit=host, extra_vars={"agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr
    assert snapshot(g3, host) == before and count() == rows
