"""Upgrade paths through required stops, on real lab hosts (G1: v0.43.0 -> required stop v0.44.4 -> v0.44.5).

With -e agenta_upgrade_through_stops=true an upgrade whose target lies beyond a required stop of the release map goes
through the stop in one run: one backup before the first stop; at the stop, the migration with the stop's image,
its tag, `up -d` and verify; then the target. A failure after the stop puts the host back to where the run started
(the database, the env file's tag, the image that runs). Check mode shows the path and changes nothing. Without the
variable the same target is refused naming the stop (test_faults.py). Nothing is mocked.
"""

from __future__ import annotations

import json

import pytest

from conftest import REPO
from role_support import start_lab

HOST, OTHER = "staging-1", "production-1"
PLAYBOOK = REPO / "playbooks" / "upgrade-agenta.yml"
API = "agenta-oss-gh-api-1"
STOPS = {"agenta_release_map": {"v0.44.4": {"required_stop": True, "reason": "the lab says so"}},
         "agenta_upgrade_through_stops": True, "agenta_target_tag": "v0.44.5"}


@pytest.fixture(scope="module")
def lab(lab_factory):
    return start_lab(lab_factory, "v0.43.0")


def backups(lab) -> list[str]:
    """The run backups (the restore's own safety backups live in pre-restore/)."""
    return sorted(lab.sh(HOST, "find", "/var/backups/agenta", "-maxdepth", "2", "-name", "manifest.json",
                         check=False).stdout.split())


def running_image(lab) -> str:
    return lab.sh(HOST, "docker", "inspect", "-f", "{{.Config.Image}}", API).stdout.strip()


def tag(lab) -> str:
    return lab.sh(HOST, "grep", "^AGENTA_API_IMAGE_TAG=", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh").stdout.strip()


def snapshot(lab) -> tuple:
    return (lab.revisions(HOST), lab.row_counts(HOST), lab.table_digests(HOST), tag(lab), running_image(lab),
            lab.revisions(OTHER), lab.row_counts(OTHER))


def migrations(run) -> list[dict]:
    """Each "Run the Alembic chains" result of HOST in the order the run made them: (image, before, after)."""
    out = []
    for play in run.json["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith("Run the Alembic chains") and HOST in task["hosts"]:
                res = task["hosts"][HOST]
                chain = (res.get("chains") or [{}])[0]
                out.append((res.get("where", ""), chain.get("before"), chain.get("after")))
    return out


def report(folder) -> dict:
    (only,) = folder.glob("upgrade-*.json")
    return json.loads(only.read_text())["hosts"][0]


def test_check_mode_shows_the_path_through_the_stop_and_changes_nothing(lab, tmp_path):
    before, written = snapshot(lab), backups(lab)
    run = lab.playbook(PLAYBOOK, limit=HOST, check=True, extra_vars={**STOPS, "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    entry = report(tmp_path)
    assert json.loads(next(tmp_path.glob("upgrade-*.json")).read_text())["check_mode"] is True
    assert entry["path"] == ["v0.44.4", "v0.44.5"] and entry["outcome"] == "would upgrade", entry
    assert entry["pending"]["oss"] == ["1a0000000003", "1a0000000004", "1a0000000005", "1a0000000006",
                                       "1a0000000007"], entry
    assert snapshot(lab) == before and backups(lab) == written


def test_a_g1_deployment_is_refused_the_v045_split_without_the_release_folder(lab, tmp_path):
    """v0.45.0 keeps its data in agenta_oss_core and agenta_oss_tracing; a G1 deployment still has agenta_oss. The
    rename is planned (test_v045_split.py), but Agenta changed its compose file with it: without the release's
    compose file the plan says so in one sentence and nothing changes."""
    before, written = snapshot(lab), backups(lab)
    run = lab.playbook(PLAYBOOK, limit=HOST, extra_vars={"agenta_target_tag": "v0.45.0",
                                                         "agenta_report_dir": str(tmp_path)})
    assert run.rc != 0, run.stdout[-3000:]
    entry = report(tmp_path)
    assert entry["outcome"] == "refused", entry
    assert ("v0.45.0 reads the databases Agenta v0.45 renamed, and staging-1 still has the names of v0.44 and older; "
            "the release changed its compose file with them, so set agenta_release_dir") in entry["message"], entry
    assert "password" not in entry["message"]
    assert snapshot(lab) == before and backups(lab) == written


def test_a_failure_after_the_stop_puts_the_host_back_where_the_run_started(lab, tmp_path):
    """The stop (v0.44.4) migrates, runs and verifies; the target's revision 1a0000000007 then fails: the host is
    restored from the run's one backup, so it is at v0.43.0 again, not at the stop."""
    before, written = snapshot(lab), backups(lab)
    lab.set_env(HOST, AGENTA_LAB_FAIL_REVISION="1a0000000007")  # the stand-in's fault switch, read by v0.44.5 only
    try:
        run = lab.playbook(PLAYBOOK, limit=HOST, extra_vars={**STOPS, "agenta_report_dir": str(tmp_path)})
    finally:
        lab.set_env(HOST, AGENTA_LAB_FAIL_REVISION="")
    assert run.rc != 0, run.stdout[-3000:]
    entry = report(tmp_path)
    assert entry["outcome"] == "failed, restored", entry["message"]
    assert "1a0000000007" in entry["message"], entry
    assert entry["message"].startswith("On the way to v0.44.5 (the target, after v0.44.4), "), entry["message"]
    # The stop was reached before the failure: its migration ran to v0.44.4's head, then the target's failed.
    steps = migrations(run)
    assert len(steps) == 2 and "v0.44.4" in steps[0][0] and steps[0][1:] == ("1a0000000002", "1a0000000006"), steps
    assert "v0.44.5" in steps[1][0], steps
    assert len(backups(lab)) == len(written) + 1
    assert snapshot(lab) == before


def test_the_run_goes_through_the_stop_then_to_the_target(lab, tmp_path):
    rows, written, other = lab.row_counts(HOST), backups(lab), (lab.revisions(OTHER), lab.row_counts(OTHER))
    run = lab.playbook(PLAYBOOK, limit=HOST, extra_vars={**STOPS, "agenta_report_dir": str(tmp_path)})
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-2000:]
    entry = report(tmp_path)
    assert entry["outcome"] == "upgraded", entry
    assert "Went through the required stop(s) v0.44.4, each verified." in entry["message"], entry
    # The stop's image took the chain to v0.44.4's head, then the target's image applied the last revision.
    steps = migrations(run)
    assert [s[1:] for s in steps] == [("1a0000000002", "1a0000000006"), ("1a0000000006", "1a0000000007")], steps
    assert "v0.44.4" in steps[0][0] and "v0.44.5" in steps[1][0], steps
    assert entry["after"] == {"oss": "1a0000000007"}, entry
    assert lab.revisions(HOST) == {"oss": "1a0000000007"}
    assert tag(lab) == "AGENTA_API_IMAGE_TAG=v0.44.5"
    assert running_image(lab) == "ghcr.io/agenta-ai/agenta-api:v0.44.5"
    assert lab.row_counts(HOST) == rows
    assert len(backups(lab)) == len(written) + 1  # one backup for the whole path
    assert (lab.revisions(OTHER), lab.row_counts(OTHER)) == other
