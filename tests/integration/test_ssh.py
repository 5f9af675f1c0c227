"""A fleet reached as real fleets are: over SSH as a user without root rights, with `become` (lab.py up --ssh).

The Molecule scenario `rollback` upgrades and rolls back over SSH; this module covers what only a real network
connection shows: a host whose SSH is down is refused before anything changes, and a host lost in the middle of
the rollout (after its pre-checks, while the canary batch runs) ends the run with the report naming it
"in progress", the canary upgraded and the lost host untouched; the next run finishes it. Then the ansible-core
matrix on the same lab: the oldest supported release (2.19.4, meta/runtime.yml) rolls back and upgrades, and
older ones (2.16, and 2.19.0, which can hang between two plays) are refused in one sentence.
Nothing is mocked: real sshd, sudo, dockerd, PostgreSQL and ansible-playbook.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, labmod

UPGRADE = REPO / "playbooks" / "upgrade-agenta.yml"
OLD, NEW = "v0.43.0", "v0.44.4"


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory(OLD, staging=1, production=1, rows=50, ssh=True)
    lab.old_revisions = lab.revisions("staging-1")
    return lab


def image_tag(lab, host) -> str:
    return lab.sh(host, "docker", "inspect", "-f", "{{.Config.Image}}", labmod.API_CONTAINER).stdout.strip().rsplit(":", 1)[1]


def sshd(lab, host, up: bool) -> None:
    if up:
        lab.sh(host, "/usr/sbin/sshd")
    else:  # the listener and every session (Ansible's ControlPersist master included)
        lab.sh(host, "pkill", "-x", "sshd", check=False)


def upgrade(lab, tmp_path, limit, **extra):
    return lab.playbook(UPGRADE, limit=limit, timeout=900,
                        extra_vars={"agenta_target_tag": NEW, "agenta_report_dir": str(tmp_path), **extra})


def test_the_lab_is_reached_over_ssh_as_a_user_who_becomes_root(lab):
    inv = yaml.safe_load(lab.inventory.read_text())["all"]["vars"]
    assert inv["ansible_connection"] == "ansible.builtin.ssh" and inv["ansible_user"] == "agenta"
    assert inv["ansible_become"] is True
    run = lab.playbook("""
- hosts: all
  gather_facts: false
  tasks:
    - {command: id -un, register: login, changed_when: false, vars: {ansible_become: false}}
    - {command: id -un, register: tasks, changed_when: false}
    - {assert: {that: ["login.stdout == 'agenta'", "tasks.stdout == 'root'"]}}
""")
    assert run.rc == 0, run.stdout[-2000:]


def test_a_host_whose_ssh_is_down_is_refused_before_any_change(lab, tmp_path):
    before = lab.revisions("production-1")
    sshd(lab, "production-1", up=False)
    try:
        run = upgrade(lab, tmp_path, "production-1")
    finally:
        sshd(lab, "production-1", up=True)
    assert run.rc != 0
    assert "production-1 could not be reached (" in run.stdout
    assert "check that it is up and that Ansible can log in to it" in run.stdout and "Nothing was changed." in run.stdout
    report = json.loads(sorted(tmp_path.glob("upgrade-*.json"))[-1].read_text())
    assert [(e["host"], e["outcome"]) for e in report["hosts"]] == [("production-1", "refused")]
    assert lab.revisions("production-1") == before and image_tag(lab, "production-1") == OLD


def test_a_host_lost_in_the_middle_of_the_rollout_is_named_and_left_as_it_was(lab, tmp_path):
    """staging-1 is the canary batch; while it upgrades, production-1 (already checked in play 1) loses SSH."""
    before = {h: lab.revisions(h) for h in ("staging-1", "production-1")}
    runs = []
    worker = threading.Thread(target=lambda: runs.append(upgrade(lab, tmp_path, "staging-1,production-1")))
    worker.start()
    deadline = time.monotonic() + 300
    try:
        # The report is written before each batch with its hosts "in progress": the canary's batch has begun.
        while time.monotonic() < deadline and worker.is_alive():
            reports = [json.loads(p.read_text()) for p in tmp_path.glob("upgrade-*.json")]
            if any(e["host"] == "staging-1" and e["outcome"] == "in progress" for r in reports for e in r["hosts"]):
                break
            time.sleep(0.2)
        sshd(lab, "production-1", up=False)
        worker.join(600)
    finally:
        sshd(lab, "production-1", up=True)
    run = runs[0]
    assert run.rc == 4, run.stdout[-3000:]  # ansible-playbook's exit status for an unreachable host
    assert run.json["stats"]["production-1"]["unreachable"] == 1 and run.json["stats"]["staging-1"]["failures"] == 0
    report = json.loads(sorted(tmp_path.glob("upgrade-*.json"))[-1].read_text())
    outcomes = {e["host"]: e["outcome"] for e in report["hosts"]}
    assert outcomes == {"staging-1": "upgraded", "production-1": "in progress"}, report
    # The canary is upgraded; the lost host was not touched (its lock was the first thing it did not reach).
    assert image_tag(lab, "staging-1") == NEW and lab.revisions("staging-1") != before["staging-1"]
    assert lab.revisions("production-1") == before["production-1"] and image_tag(lab, "production-1") == OLD
    # SSH is back: the next run upgrades the host it lost and leaves the canary as it is.
    for old in tmp_path.glob("upgrade-*"):
        old.unlink()
    again = upgrade(lab, tmp_path, "staging-1,production-1")
    assert again.rc == 0, again.stdout[-3000:]
    report = json.loads(sorted(Path(tmp_path).glob("upgrade-*.json"))[-1].read_text())
    assert {e["host"]: e["outcome"] for e in report["hosts"]} == {"staging-1": "unchanged", "production-1": "upgraded"}
    assert lab.revisions("production-1") == lab.revisions("staging-1") and image_tag(lab, "production-1") == NEW



def test_a_host_lost_during_a_long_step_is_unreachable_in_one_sentence_not_a_hang(lab, tmp_path):
    """production-1's backup runs as a job with signs of life (about 150 MB to dump; agenta_progress_min_bytes=0)
    and its SSH goes down while the controller looks at the job: after agenta_unreachable_after seconds without a
    look that reaches it, the host is unreachable, named in one sentence, instead of a run that waits for days."""
    host = "production-1"
    lab.sh(host, "rm", "-rf", "/root/.ansible_async")
    lab.psql(host, "agenta_oss", "CREATE TABLE fleet_lost_filler AS SELECT g, md5(random()::text) || "
             "md5(random()::text) || md5(random()::text) AS t FROM generate_series(1, 1200000) g")
    runs = []
    worker = threading.Thread(target=lambda: runs.append(lab.playbook(
        REPO / "playbooks" / "backup-agenta.yml", limit=host, timeout=600,
        extra_vars={"agenta_progress_interval": 1, "agenta_progress_min_bytes": 0, "agenta_unreachable_after": 5,
                    "agenta_report_dir": str(tmp_path)})))
    worker.start()
    try:
        # The job has started when its file is in root's ~/.ansible_async on the host; the controller's start of
        # it returns a moment later (over SSH, with sudo), then it looks at the job while the dump runs.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and worker.is_alive():
            if lab.sh(host, "sh", "-c", "ls /root/.ansible_async 2>/dev/null | grep -q '^j'", check=False).returncode == 0:
                break
            time.sleep(0.2)
        time.sleep(3)
        assert worker.is_alive(), runs[0].stdout[-3000:] if runs else "no run"
        sshd(lab, host, up=False)
        worker.join(300)
    finally:
        sshd(lab, host, up=True)
    run = runs[0]
    assert run.rc == 4, run.stdout[-3000:]  # unreachable, not failed, and not waiting
    assert run.json["stats"][host]["unreachable"] == 1, run.json["stats"]
    lost = [r.get("msg", "") for play in run.json["plays"] for task in play["tasks"] for h, r in task["hosts"].items()
            if h == host and r.get("unreachable")]
    assert lost and f"{host} could not be reached for " in lost[0], lost
    assert " while backing up the databases (" in lost[0], lost
    # The job went on alone on the host: its backup finishes, and the run's lock is left for the next run to name
    # (taken over here, so the tests after this one start clean).
    deadline = time.monotonic() + 120
    while lab.sh(host, "sh", "-c", "pgrep -f '[a]nsible_async|[A]nsiballZ_database_backup' >/dev/null",
                 check=False).returncode == 0 and time.monotonic() < deadline:
        time.sleep(1)
    lab.sh(host, "rm", "-f", "/var/lib/agenta-fleet/run.json")
    lab.psql(host, "agenta_oss", "DROP TABLE fleet_lost_filler")


@pytest.mark.parametrize("as_job", [True, False], ids=["migration-as-a-job", "migration-in-one-round-trip"])
def test_a_host_lost_between_its_backup_and_its_up_d_leaves_a_way_back(lab, tmp_path, as_job):
    """production-1 (at v0.44.4 after the tests above) upgrades to v0.44.5 over SSH; a session holds apps, so the
    migration's ALTER TABLE waits; SSH goes down while it migrates, after the backup and before `up -d`. The run ends
    with the host unreachable in one sentence (not a hang): ours when the migration runs as a job the controller looks
    at, Ansible's when it is one round trip (a small database); either way the module lives on with the job on the
    host (not with the SSH session), the migration, freed, finishes alone and notes it in the run journal; with SSH back the next run refuses naming the lost run, its phase and its backup,
    and with agenta_break_lock completes the upgrade: new revisions, every row, the new image."""
    host, target = "production-1", "v0.44.5"

    def journal() -> dict:
        return json.loads(lab.sh(host, "sh", "-c", "cat /var/lib/agenta-fleet/run.json 2>/dev/null || echo '{}'").stdout)

    rows, revisions, start_tag = lab.row_counts(host), lab.revisions(host), image_tag(lab, host)
    lab.sh(host, "rm", "-rf", "/root/.ansible_async")
    pg = ["docker", "exec", "-e", "PGPASSWORD", labmod.PG_CONTAINER, "psql", "-h", "127.0.0.1", "-U", "username",
          "-d", "agenta_oss"]
    holder = subprocess.Popen(["docker", "exec", "-e", "PGPASSWORD", lab.hosts[host].container, *pg, "-c",
                               "BEGIN; LOCK TABLE apps IN SHARE MODE; SELECT pg_sleep(300);"],
                              env={**os.environ, "PGPASSWORD": labmod.DB_PASSWORD},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = []
    worker = threading.Thread(target=lambda: runs.append(upgrade(
        lab, tmp_path, host, agenta_target_tag=target, agenta_unreachable_after=5, agenta_progress_interval=1,
        # The one-round-trip case runs as Ansible does by default: without pipelining (ssh -tt), so that the
        # SSH session's end hangs up on the module.
        **({"agenta_progress_min_bytes": 0} if as_job else {"agenta_progress_min_bytes": 2 ** 40,
                                                            "ansible_pipelining": False}))))
    worker.start()
    try:
        # The journal says "migrating" just before the module starts; its one-shot container (waiting on the
        # lock) and, as a job, the job's file in root's ~/.ansible_async show that it runs.
        def migrating() -> bool:
            return journal().get("phase") == "migrating" and bool(lab.sh(
                host, "docker", "ps", "-q", "--filter", "label=agenta.fleet.alembic_migration").stdout.strip()) and (
                not as_job or lab.sh(host, "sh", "-c", "ls /root/.ansible_async 2>/dev/null | grep -q '^j'",
                                     check=False).returncode == 0)

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and worker.is_alive() and not migrating():
            time.sleep(0.3)
        held = journal()
        assert held.get("phase") == "migrating", runs[0].stdout[-3000:] if runs else held
        time.sleep(3)
        sshd(lab, host, up=False)
        worker.join(300)
    finally:
        sshd(lab, host, up=True)
        lab.psql(host, "postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE query LIKE 'BEGIN; LOCK TABLE apps%'")
        holder.wait(30)
    run = runs[0]
    assert run.rc == 4, run.stdout[-3000:]
    lost = [r.get("msg", "") for play in run.json["plays"] for task in play["tasks"] for h, r in task["hosts"].items()
            if h == host and r.get("unreachable")]
    assert run.json["stats"][host]["unreachable"] == 1, run.json["stats"]
    if as_job:  # the controller looks at the job: after agenta_unreachable_after seconds, one sentence of ours
        assert lost and f"{host} could not be reached for " in lost[0] and " while migrating (" in lost[0], lost
        assert lost[0].endswith("Reach the host, then run again."), lost
    else:  # a database below agenta_progress_min_bytes: one round trip, whose lost connection Ansible names
        assert lost and "via ssh" in lost[0], lost
    # Nothing restored the host behind the controller's back, and nothing was deployed: the lone migration finishes.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and journal().get("phase") == "migrating":
        time.sleep(0.5)
    left = journal()
    assert left["run_id"] == held["run_id"] and left["phase"] == "migrated", left
    assert lab.revisions(host) == {"oss": "1a0000000007"} and image_tag(lab, host) == start_tag
    assert lab.sh(host, "test", "-f", left["backup"], check=False).returncode == 0

    again = upgrade(lab, tmp_path, host, agenta_target_tag=target)
    assert again.rc != 0
    msg = [r.get("msg", "") for play in again.json["plays"] for task in play["tasks"] for r in task["hosts"].values()
           if r.get("failed")][0]
    assert f"run {held['run_id']} (" in msg and "last at phase 'migrated'" in msg and left["backup"] in msg, msg

    done = upgrade(lab, tmp_path, host, agenta_target_tag=target, agenta_break_lock=True)
    assert done.rc == 0, done.stdout[-3000:]
    assert image_tag(lab, host) == target and lab.revisions(host) == {"oss": "1a0000000007"}
    assert lab.row_counts(host) == rows
    # Back to where it started (the backup of the lost run), for the tests below.
    back = lab.playbook(REPO / "playbooks" / "rollback-agenta.yml", limit=host, timeout=900,
                        extra_vars={"agenta_report_dir": str(tmp_path)})
    assert back.rc == 0, back.stdout[-3000:]
    assert image_tag(lab, host) == start_tag and lab.revisions(host) == revisions and lab.row_counts(host) == rows


# ------------------------------------------------------------------------- the ansible-core versions
FLOOR = "2.19.4"  # meta/runtime.yml requires_ansible; the newest 2.19.x (requirements-test.txt) runs every test
# Refused by the playbooks: the newest 2.16 (before data tagging), and 2.19.0 (can hang between two plays).
TOO_OLD = ["2.16.19", "2.19.0"]


def ansible_core(version: str) -> Path:
    """ansible-playbook of that ansible-core, in a venv of its own under .venv/ (made once, from PyPI)."""
    venv = REPO / ".venv" / "ansible-core" / version
    if not (venv / "bin" / "ansible-playbook").is_file():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        f"ansible-core=={version}"], check=True, timeout=600)
    return venv / "bin" / "ansible-playbook"


def run_with(lab, version: str, playbook: Path, limit: str, **extra):
    cmd = [str(ansible_core(version)), "-i", str(lab.inventory), str(playbook), "-l", limit,
           "-e", json.dumps(extra)]
    # ansible-core alone (no ansible.posix): the built-in output.
    env = {**lab.ansible_env(), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=420, env=env, cwd=REPO)
    except subprocess.TimeoutExpired as exc:  # a hung run: show what it printed (stderr last) instead of waiting on
        text = [x.decode(errors="replace") if isinstance(x, bytes) else (x or "") for x in (exc.stdout, exc.stderr)]
        return None, f"timed out after {exc.timeout} s\n" + "".join(text)
    return proc.returncode, proc.stdout + proc.stderr


def test_requires_ansible_is_the_floor_that_is_tested():
    runtime = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == f">={FLOOR}"


def test_the_oldest_supported_ansible_core_rolls_back_and_upgrades(lab, tmp_path):
    """With ansible-core 2.19.4: staging-1 (upgraded by the tests above) is rolled back, then upgraded again."""
    rc, out = run_with(lab, FLOOR, REPO / "playbooks" / "rollback-agenta.yml", "staging-1",
                       agenta_report_dir=str(tmp_path))
    assert rc == 0, out[-3000:]
    assert "needs ansible-core 2.19.4 or later" not in out
    assert image_tag(lab, "staging-1") == OLD and lab.revisions("staging-1") == lab.old_revisions
    rc, out = run_with(lab, FLOOR, UPGRADE, "staging-1", agenta_target_tag=NEW, agenta_report_dir=str(tmp_path))
    assert rc == 0, out[-3000:]
    assert image_tag(lab, "staging-1") == NEW and lab.revisions("staging-1") == lab.revisions("production-1")


@pytest.mark.parametrize("version", TOO_OLD)
def test_an_ansible_core_below_the_floor_is_refused_in_one_sentence(lab, version, tmp_path):
    before = lab.revisions("staging-1")
    rc, out = run_with(lab, version, UPGRADE, "staging-1", agenta_target_tag=OLD, agenta_report_dir=str(tmp_path))
    assert rc != 0
    assert (f"agenta.fleet needs ansible-core 2.19.4 or later on the controller, and this is ansible-core {version}; "
            "install a newer one") in out
    assert lab.revisions("staging-1") == before
