"""Test cases shared by test_role_backup_restore_g1.py and test_role_backup_restore_g3.py: the roles
agenta.fleet.backup and agenta.fleet.restore against real lab hosts (real pg_dump / pg_restore, real psql
re-queries, real compose). Each importing module defines the module-scoped `lab` fixture and the release
constants; pytest collects these functions in each module with that module's lab, in file order."""
from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import time
import urllib.request

import pytest

from conftest import DB_PASSWORD
BACKUP_DIR = "/var/backups/agenta"
COMPOSE_DIR = "/opt/agenta/hosting/docker-compose/oss"
HOST = "staging-1"
ENV_FILE = "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh"
OTHER = "production-1"

BACKUP_PLAY = """
- name: Back up
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the backup role
      ansible.builtin.include_role:
        name: agenta.fleet.backup
    - name: Show the backup result
      ansible.builtin.debug:
        var: backup_result
"""

RESTORE_PLAY = """
- name: Restore
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the restore role
      ansible.builtin.include_role:
        name: agenta.fleet.restore
    - name: Show the restore result
      ansible.builtin.debug:
        var: restore_result
"""

# The restore as rollback-agenta.yml calls it: the deployment read first (restore_deployment), so that the safety
# backup's call takes the run lock (restore_lock) before it reads anything.
RESTORE_READ_PLAY = RESTORE_PLAY.replace("  tasks:\n", """  tasks:
    - name: Read the deployment
      agenta.fleet.deployment_info:
        env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
      register: read
""", 1).replace("        name: agenta.fleet.restore\n", """        name: agenta.fleet.restore
      vars:
        restore_deployment: "{{ read }}"
""", 1)

# Another run (its controller alive, as far as this host knows) holds the host's run lock.
HOLD_LOCK_PLAY = """
- name: Hold the run lock as another run
  hosts: all
  gather_facts: false
  tasks:
    - name: Take the lock
      agenta.fleet.run_lock:
        run_id: upgrade-someone-else
        playbook: upgrade
        owner: alice@elsewhere
        phase: upgrading
"""
JOURNAL = "/var/lib/agenta-fleet/run.json"
RESTORE_LOCK = {"playbook": "rollback", "owner": "tester@controller", "phase": "rolling back"}

SEED_CMD = ["docker", "exec", "-e", "PYTHONPATH=/app", "-w", "/app/oss/databases/postgres/migrations",
            "agenta-oss-gh-api-1", "alembic", "-c", "alembic.oss.ini"]


# ------------------------------------------------------------------------------------------ helpers
def ok(res) -> None:
    assert res.rc == 0, res.stdout[-6000:] + res.stderr[-3000:]


def failure_messages(res) -> list[str]:
    msgs = []
    for play in res.json["plays"]:
        for task in play["tasks"]:
            for r in task["hosts"].values():
                if r.get("failed") and not r.get("ignore_errors"):
                    msgs.append(r.get("msg", ""))
    return msgs


def backup(lab, host=HOST, check=False, **extra):
    res = lab.playbook(BACKUP_PLAY, limit=host, check=check, extra_vars=extra or None)
    ok(res)
    return res.results("Show the backup result")[host]["backup_result"]


def restore(lab, host=HOST, check=False, **extra):
    return lab.playbook(RESTORE_PLAY, limit=host, check=check, extra_vars=extra or None)


def agenta_databases(lab, host) -> list[str]:
    out = lab.psql(host, "postgres", "SELECT datname FROM pg_database WHERE datname ~ '^(agenta|supertokens)_' "
                                     "ORDER BY datname")
    return out.split()


def real_counts(lab, host, db) -> dict[str, int]:
    """Exact count(*) of every table of the database, re-queried independently of the role."""
    tables = lab.psql(host, db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").split()
    if not tables:
        return {}
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM public.\"{t}\"" for t in tables)
    rows = lab.psql(host, db, sql).splitlines()
    return {t: int(n) for t, n in (r.split("|") for r in rows)}


def all_counts(lab, host) -> dict[str, dict[str, int]]:
    return {db: real_counts(lab, host, db) for db in agenta_databases(lab, host)}


def read_json(lab, host, path) -> dict:
    return json.loads(lab.sh(host, "cat", path).stdout)


def mode(lab, host, path) -> str:
    return lab.sh(host, "stat", "-c", "%a %U", path).stdout.strip()


def backups_on(lab, host) -> list[str]:
    out = lab.sh(host, "sh", "-c", f"ls -1 {BACKUP_DIR} 2>/dev/null || true").stdout
    return sorted(n for n in out.split() if n[:1].isdigit())


def env_value(lab, host, key) -> str:
    for line in lab.sh(host, "cat", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh").stdout.splitlines():
        if line.startswith(key + "="):
            return line.split("=", 1)[1]
    return ""


def health(url: str) -> int:
    with urllib.request.urlopen(url + "/api/health", timeout=5) as resp:
        return resp.status


def api_image(lab, host) -> str:
    return lab.sh(host, "docker", "inspect", "-f", "{{.Config.Image}}", "agenta-oss-gh-api-1").stdout.strip()


def damage(lab, host, new_release) -> None:
    """Upgrade to the new release (image tag + up -d; G1 with the seed's command), and delete rows."""
    lab.set_env(host, AGENTA_API_IMAGE_TAG=new_release)
    lab.compose(host, "up", "-d")
    if lab.hosts[host].layout == "g1":
        lab.sh(host, *SEED_CMD, "upgrade", "head")
    core = "agenta_oss" if lab.hosts[host].layout == "g1" else "agenta_oss_core"
    lab.psql(host, core, "DELETE FROM apps WHERE ctid IN (SELECT ctid FROM apps LIMIT 25)")


@pytest.fixture(scope="module")
def state() -> dict:
    return {}


# ------------------------------------------------------------------------------------------ backup
def test_check_mode_plans_and_writes_nothing(lab):
    result = backup(lab, check=True)
    assert result["check_mode"] is True
    assert [d["name"] for d in result["databases"]] == agenta_databases(lab, HOST)
    assert all(d["size"] > 0 for d in result["databases"])
    assert result["path"].startswith(BACKUP_DIR + "/")
    assert lab.sh(HOST, "test", "-e", BACKUP_DIR, check=False).returncode != 0


def test_pending_only_skips_and_writes_nothing(lab):
    result = backup(lab, backup_when_pending_only=True, backup_pending=0)
    assert result["skipped"] is True and result["path"] == ""
    assert lab.sh(HOST, "test", "-e", BACKUP_DIR, check=False).returncode != 0


REFUSE_PLAY = """
- name: Back up into folders that are not the backups' own
  hosts: all
  gather_facts: false
  tasks:
    - name: Back up into a system folder
      agenta.fleet.database_backup:
        env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
        backup_dir: /usr
      register: sys_dir
      ignore_errors: true
    - name: Back up into a path that is not normalised
      agenta.fleet.database_backup:
        env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
        backup_dir: /var/backups/agenta/../..
      register: dotdot
      ignore_errors: true
    - name: Back up into a folder that holds someone else's files
      agenta.fleet.database_backup:
        env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
        backup_dir: /srv/mixed
      register: mixed
      ignore_errors: true
    - name: Show the refusals
      ansible.builtin.debug:
        msg: "{{ [sys_dir.msg, dotdot.msg, mixed.msg] }}"
    - name: Run the backup role into a system folder
      ansible.builtin.include_role:
        name: agenta.fleet.backup
      vars:
        agenta_backup_dir: /usr/
"""


def test_a_backup_folder_that_is_not_the_backups_own_is_refused_before_anything_is_written(lab):
    lab.sh(HOST, "sh", "-c", "mkdir -p /srv/mixed && echo mine > /srv/mixed/notes.txt && chmod 755 /srv/mixed")
    before = lab.sh(HOST, "sh", "-c", "stat -c '%a %U' /usr /srv/mixed; ls -a /usr /srv/mixed").stdout
    res = lab.playbook(REFUSE_PLAY, limit=HOST)
    assert res.rc != 0
    sys_dir, dotdot, mixed = res.results("Show the refusals")[HOST]["msg"]
    assert sys_dir == ("The backup folder /usr is a system folder; choose a folder of its own such as "
                       "/var/backups/agenta."), sys_dir
    assert dotdot.startswith("The backup folder /var/backups/agenta/../.. is not a normalised path"), dotdot
    assert mixed.startswith("The backup folder /srv/mixed holds a file that agenta.fleet did not write "
                            "(notes.txt)"), mixed
    assert any(m.startswith("The backup folder /usr is a system folder") for m in failure_messages(res))
    # Nothing was created or chmodded, and no database was dumped anywhere.
    assert lab.sh(HOST, "sh", "-c", "stat -c '%a %U' /usr /srv/mixed; ls -a /usr /srv/mixed").stdout == before
    assert lab.sh(HOST, "test", "-e", BACKUP_DIR, check=False).returncode != 0
    lab.sh(HOST, "rm", "-rf", "/srv/mixed")


def test_a_full_disk_fails_the_backup_and_leaves_no_unfinished_folder(lab):
    # A backup folder on a 64 KiB file system: the first dump does not fit.
    lab.sh(HOST, "sh", "-c", "mkdir -p /srv/small && mount -t tmpfs -o size=64k tmpfs /srv/small")
    try:
        res = lab.playbook(BACKUP_PLAY, limit=HOST, extra_vars={"agenta_backup_dir": "/srv/small"})
        assert res.rc != 0
        msg = failure_messages(res)[-1]
        first = agenta_databases(lab, HOST)[0]
        assert msg.startswith("The backup failed and its unfinished folder /srv/small/"), msg
        assert f"was removed: pg_dump of database {first} failed: " in msg, msg
        assert "No space left on device" in msg or "could not write" in msg, msg
        assert lab.sh(HOST, "ls", "-A", "/srv/small").stdout.strip() == ""
        assert lab.psql(HOST, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'agenta_fleet%'") == "0"
    finally:
        lab.sh(HOST, "sh", "-c", "umount /srv/small && rmdir /srv/small")


def test_a_disk_that_fills_while_the_api_writes_loses_no_write(lab):
    """The backup's file system fills up during pg_dump of the database a client is writing to at that moment: the
    backup fails and removes its folder, and every write the client made (before, during and after the dump) is in
    the database; pg_dump's snapshot never blocked it."""
    db = agenta_databases(lab, HOST)[0]
    lab.psql(HOST, db, "CREATE TABLE fleet_writer (id serial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())")
    lab.sh(HOST, "sh", "-c", "mkdir -p /srv/small && mount -t tmpfs -o size=64k tmpfs /srv/small")
    writer = lab.sh(HOST, "sh", "-c", (
        f"(for i in $(seq 1 300); do PGPASSWORD={DB_PASSWORD} psql -h 127.0.0.1 -U username -d {db} -qtAc "
        "'INSERT INTO fleet_writer DEFAULT VALUES' >/dev/null && echo ok; done > /tmp/writer.out 2>&1; "
        "echo done >> /tmp/writer.out) >/dev/null 2>&1 & echo $!")).stdout.strip()
    try:
        res = lab.playbook(BACKUP_PLAY, limit=HOST, extra_vars={"agenta_backup_dir": "/srv/small"})
        written_during = int(lab.psql(HOST, db, "SELECT count(*) FROM fleet_writer"))
        lab.sh(HOST, "sh", "-c", "for i in $(seq 1 600); do grep -q done /tmp/writer.out && exit 0; sleep 0.2; done; exit 1")
        assert res.rc != 0
        msg = failure_messages(res)[-1]
        assert msg.startswith("The backup failed and its unfinished folder /srv/small/"), msg
        assert "No space left on device" in msg or "could not write" in msg, msg
        assert lab.sh(HOST, "ls", "-A", "/srv/small").stdout.strip() == ""
        acknowledged = lab.sh(HOST, "grep", "-c", "^ok$", "/tmp/writer.out").stdout.strip()
        assert acknowledged == "300", lab.sh(HOST, "cat", "/tmp/writer.out").stdout[-2000:]
        # The client was writing while the backup ran, and every acknowledged write is there.
        assert 0 < written_during < 300
        assert lab.psql(HOST, db, "SELECT count(*), count(DISTINCT id) FROM fleet_writer") == "300|300"
    finally:
        lab.sh(HOST, "kill", writer, check=False)
        lab.sh(HOST, "sh", "-c", "umount /srv/small; rmdir /srv/small; rm -f /tmp/writer.out", check=False)
        lab.psql(HOST, db, "DROP TABLE IF EXISTS fleet_writer")


def test_forced_backup_writes_private_verified_dumps_a_true_manifest_and_a_private_copy(lab, state, tmp_path):
    before_dbs = agenta_databases(lab, HOST)
    fetch = tmp_path / "fetched"
    # Nothing pending, but forced; with a copy to the controller.
    result = backup(lab, backup_when_pending_only=True, backup_pending=0, backup_force=True,
                    backup_fetch_dir=str(fetch))
    assert result["skipped"] is False
    path = result["path"]
    state["main"] = path
    state["counts"] = all_counts(lab, HOST)
    state["revisions"] = lab.revisions(HOST)
    m = read_json(lab, HOST, result["manifest"])

    # Private: the backup root and the backup are 0700, every file 0600, all root's.
    assert mode(lab, HOST, BACKUP_DIR) == "700 root"
    assert mode(lab, HOST, path) == "700 root"
    files = lab.sh(HOST, "find", path, "-type", "f").stdout.split()
    assert sorted(f.rsplit("/", 1)[1] for f in files) == sorted(
        ["manifest.json", "env_file", "compose_file"] + [f"{db}.dump" for db in before_dbs])
    for f in files:
        assert mode(lab, HOST, f) == "600 root", f

    # The manifest tells the truth.
    assert m["host"] == HOST and m["tool"] == "agenta.fleet.backup"
    assert m["image_tag"] == lab.release and m["image"].endswith(":" + lab.release)
    assert m["layout"] == lab.hosts[HOST].layout
    assert m["compose_project"] == "agenta-oss-gh"
    # The deployment's compose file is kept, byte for byte (a restore puts it back).
    compose = lab.sh(HOST, "sha256sum", f"{COMPOSE_DIR}/docker-compose.gh.yml").stdout.split()[0]
    assert m["compose_file"] == {"source": f"{COMPOSE_DIR}/docker-compose.gh.yml", "file": "compose_file",
                                 "sha256": compose}
    assert {c: r for c, r in m["revisions"].items()} == {c: r or "base" for c, r in state["revisions"].items()}
    assert [d["name"] for d in m["databases"]] == before_dbs
    for d in m["databases"]:
        sha = lab.sh(HOST, "sha256sum", f"{path}/{d['file']}").stdout.split()[0]
        assert d["sha256"] == sha and d["format"] == "custom"
        assert d["tables"] == state["counts"][d["name"]], d["name"]
        toc = lab.sh(HOST, "pg_restore", "--list", f"{path}/{d['file']}").stdout
        assert "TABLE DATA" in toc or not d["tables"]
    # Every seeded key table is in it with its real count.
    for key, n in lab.row_counts(HOST).items():
        db, table = key.split(".")
        assert next(d for d in m["databases"] if d["name"] == db)["tables"][table] == n
    env_sha = lab.sh(HOST, "sha256sum", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh").stdout.split()[0]
    assert m["env_file"]["sha256"] == env_sha
    assert m["verified"] == {"list": True, "trial_restore": None}
    assert lab.sh(HOST, "readlink", f"{BACKUP_DIR}/latest").stdout.strip() == path.rsplit("/", 1)[1]
    # No password anywhere in the manifest.
    assert "password" not in json.dumps(m).replace("POSTGRES_PASSWORD", "")

    # The copy on the controller: same files, same checksums, 0700 directories and 0600 files.
    local = fetch / HOST / path.rsplit("/", 1)[1]
    assert json.loads((local / "manifest.json").read_text()) == m
    for d in m["databases"]:
        assert hashlib.sha256((local / d["file"]).read_bytes()).hexdigest() == d["sha256"]
    for p in [fetch / HOST, local]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
    for p in local.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert sorted(p.name for p in local.iterdir()) == sorted(["manifest.json", "env_file", "compose_file"]
                                                             + [d["file"] for d in m["databases"]])


def test_directory_format_with_trial_restore_and_retention(lab, state):
    # A directory that looks like a backup but was not written by the role is never removed.
    lab.sh(HOST, "mkdir", "-p", f"{BACKUP_DIR}/20000101T000000Z")
    result = backup(lab, backup_format="directory", backup_jobs=2, backup_trial_restore=True,
                    backup_keep=1)
    m = read_json(lab, HOST, result["manifest"])
    assert m["verified"] == {"list": True, "trial_restore": True}
    for d in m["databases"]:
        assert d["format"] == "directory" and d["file"] == d["name"] + ".dir"
        assert d["files"], d
        for rel, sha in d["files"].items():
            assert lab.sh(HOST, "sha256sum", f"{result['path']}/{rel}").stdout.split()[0] == sha
            assert mode(lab, HOST, f"{result['path']}/{rel}") == "600 root"
        assert mode(lab, HOST, f"{result['path']}/{d['file']}") == "700 root"
        assert d["tables"] == state["counts"][d["name"]]
    names = backups_on(lab, HOST)
    # keep=1: the newest backup of the role stays, the first one went; the foreign directory that looks like a
    # backup (no manifest of ours) stays.
    assert names == ["20000101T000000Z", result["path"].rsplit("/", 1)[1]], names
    assert lab.sh(HOST, "test", "-e", state["main"], check=False).returncode != 0
    assert lab.psql(HOST, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'agenta_fleet%'") == "0"
    state["dir"] = result["path"]


# ------------------------------------------------------------------------------------------ restore
def test_restore_in_check_mode_is_a_plan_that_changes_nothing(lab, state):
    damage(lab, HOST, lab.new_release)
    state["damaged_revisions"] = lab.revisions(HOST)
    assert state["damaged_revisions"] != state["revisions"]
    damaged = all_counts(lab, HOST)
    assert damaged != state["counts"]
    res = restore(lab, check=True)
    ok(res)
    plan = res.results("Show the restore result")[HOST]["restore_result"]
    assert plan["check_mode"] is True and plan["manifest"].startswith(state["dir"])
    # The plan names the revisions it goes back to (it printed "key=value, key=value" once).
    said = [t["hosts"][HOST]["msg"] for play in res.json["plays"] for t in play["tasks"]
            if t["task"]["name"].endswith("Show the plan") and HOST in t["hosts"]][-1]
    revisions = ", ".join(f"{c}={r or 'base'}" for c, r in sorted(state["revisions"].items()))
    assert f"revisions {revisions}):" in said, said
    assert lab.revisions(HOST) == state["damaged_revisions"]
    assert all_counts(lab, HOST) == damaged
    assert env_value(lab, HOST, "AGENTA_API_IMAGE_TAG") == lab.new_release
    assert lab.sh(HOST, "test", "-e", f"{BACKUP_DIR}/pre-restore", check=False).returncode != 0


@pytest.mark.parametrize("read_first", [True, False], ids=["lock-in-safety-backup", "lock-call-of-its-own"])
def test_a_restore_refuses_while_another_run_holds_the_lock_and_changes_nothing(lab, state, read_first):
    """restore_lock: another live run holds the host's run lock. Read first as rollback-agenta.yml does (with the
    revisions), the safety backup's call refuses before it reads anything; without that read the role's own
    agenta.fleet.run_lock call refuses. Either way run_lock's one sentence, and nothing is written or changed."""
    ok(lab.playbook(HOLD_LOCK_PLAY, limit=HOST))
    try:
        play = RESTORE_READ_PLAY if read_first else RESTORE_PLAY
        res = lab.playbook(play, limit=HOST, extra_vars={"restore_lock": RESTORE_LOCK, "agenta_run_id": "rollback-t-1",
                                                         "restore_safety_revisions": state["damaged_revisions"]})
        assert res.rc != 0
        msg = failure_messages(res)[0]
        held = f"The run lock {JOURNAL} is held by run upgrade-someone-else (upgrade by alice@elsewhere, "
        assert msg.startswith(held), msg
        failed = [t["task"]["name"] for play_ in res.json["plays"] for t in play_["tasks"]
                  if t["hosts"].get(HOST, {}).get("failed")]
        assert failed[0].endswith("Back up every database, check each dump and write the manifest" if read_first
                                  else "Take the host's run lock"), failed
        assert read_json(lab, HOST, JOURNAL)["run_id"] == "upgrade-someone-else"
        assert lab.sh(HOST, "test", "-e", f"{BACKUP_DIR}/pre-restore", check=False).returncode != 0
        assert lab.revisions(HOST) == state["damaged_revisions"]
        assert env_value(lab, HOST, "AGENTA_API_IMAGE_TAG") == lab.new_release
    finally:
        lab.sh(HOST, "rm", "-f", JOURNAL)


def test_restore_puts_back_every_row_revision_and_the_env_file(lab, state):
    # As rollback-agenta.yml restores: the run lock taken in the safety backup's call, the journal naming the steps.
    try:
        res = lab.playbook(RESTORE_READ_PLAY, limit=HOST, extra_vars={
            "restore_lock": RESTORE_LOCK, "agenta_run_id": "rollback-t-2",
            "restore_safety_revisions": state["damaged_revisions"]})
        ok(res)
        journal = read_json(lab, HOST, JOURNAL)
    finally:
        lab.sh(HOST, "rm", "-f", JOURNAL)
    result = res.results("Show the restore result")[HOST]["restore_result"]
    skipped = [t["hosts"][HOST].get("skipped") for play_ in res.json["plays"] for t in play_["tasks"]
               if t["task"]["name"].endswith("Take the host's run lock")]
    assert skipped == [True], skipped
    assert result["lock"] == {"took_over": ""}, result
    assert journal["run_id"] == "rollback-t-2" and journal["playbook"] == "rollback", journal
    assert [s["phase"] for s in journal["steps"]] == ["rolling back", "backed up", "restoring databases",
                                                      "databases restored", "services started"], journal
    m = read_json(lab, HOST, result["manifest"])
    assert result["manifest"] == state["dir"] + "/manifest.json"
    assert lab.revisions(HOST) == state["revisions"]
    assert {c: r or "base" for c, r in lab.revisions(HOST).items()} == m["revisions"]
    now = all_counts(lab, HOST)
    assert now == state["counts"]
    assert now == {d["name"]: d["tables"] for d in m["databases"]}
    assert env_value(lab, HOST, "AGENTA_API_IMAGE_TAG") == lab.release
    assert api_image(lab, HOST).endswith(":" + lab.release)
    assert health(lab.hosts[HOST].api_url) == 200
    state_run = lab.sh(HOST, "docker", "inspect", "-f", "{{.State.Status}}", "agenta-oss-gh-api-1").stdout.strip()
    assert state_run == "running"
    # The state before the restore was kept, privately, in pre-restore/.
    assert result["safety_backup"].startswith(BACKUP_DIR + "/pre-restore/")
    pre = read_json(lab, HOST, result["safety_backup"] + "/manifest.json")
    assert pre["image_tag"] == lab.new_release
    assert mode(lab, HOST, result["safety_backup"] + "/manifest.json") == "600 root"
    assert lab.sh(HOST, "test", "-e", "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh.before-restore",
                  check=False).returncode != 0
    # The other host was not touched.
    assert lab.revisions(OTHER) == state["revisions"]


def test_restore_starts_a_stopped_database_first(lab, state):
    # What a PostgreSQL killed during a migration leaves: the server is down when the restore begins.
    lab.sh(HOST, "docker", "stop", "agenta-oss-gh-postgres-1")
    res = restore(lab, restore_safety_backup=False)
    ok(res)
    status = lab.sh(HOST, "docker", "inspect", "-f", "{{.State.Status}}", "agenta-oss-gh-postgres-1").stdout.strip()
    assert status == "running"
    assert all_counts(lab, HOST) == state["counts"]
    assert lab.revisions(HOST) == state["revisions"]
    assert health(lab.hosts[HOST].api_url) == 200


def test_a_restore_whose_api_never_answers_says_so_after_its_timeout(lab, state):
    """The databases are put back, then the health check (asked again within a second or two, then every 3 s, for
    restore_health_timeout seconds: agenta.fleet.deployment_info) never answers: one sentence naming the URL and
    the timeout, after the databases were replaced."""
    res = restore(lab, restore_safety_backup=False, restore_health_url="http://127.0.0.1:9/api/health",
                  restore_health_timeout=2)
    assert res.rc != 0
    msgs = failure_messages(res)
    assert any(msg.startswith(f"The restore of {HOST} failed after its databases were replaced; fix the cause and "
                              "run the restore again: The API health check http://127.0.0.1:9/api/health answered "
                              "nothing (") and msg.endswith(") instead of 200 within 2 s; look at the api logs "
                                                            "(docker compose logs api).") for msg in msgs), msgs
    assert all_counts(lab, HOST) == state["counts"]
    assert lab.revisions(HOST) == state["revisions"]
    assert health(lab.hosts[HOST].api_url) == 200


def test_restore_refuses_another_hosts_manifest_and_a_missing_one(lab, state):
    other = BACKUP_DIR + "/copied"
    lab.sh(HOST, "cp", "-a", state["dir"], other)
    lab.sh(HOST, "sed", "-i", f's/"host": "{HOST}"/"host": "{OTHER}"/', other + "/manifest.json")
    res = restore(lab, restore_manifest=other + "/manifest.json")
    assert res.rc != 0
    msgs = failure_messages(res)
    assert any(f"was written for host {OTHER}, not {HOST}" in msg for msg in msgs), msgs
    res = restore(lab, restore_manifest="/nowhere/manifest.json")
    assert res.rc != 0
    assert any("There is no backup manifest at /nowhere/manifest.json" in msg for msg in failure_messages(res))


def test_restore_refuses_a_tampered_backup_and_changes_nothing(lab, state):
    core = "agenta_oss" if lab.hosts[HOST].layout == "g1" else "agenta_oss_core"
    lab.psql(HOST, core, "DELETE FROM apps WHERE ctid IN (SELECT ctid FROM apps LIMIT 7)")
    before = all_counts(lab, HOST)
    container_id = lab.sh(HOST, "docker", "inspect", "-f", "{{.Id}}", "agenta-oss-gh-api-1").stdout.strip()
    m = read_json(lab, HOST, state["dir"] + "/manifest.json")
    victim = f"{state['dir']}/{sorted(m['databases'][0]['files'])[0]}"
    lab.sh(HOST, "sh", "-c", f"printf x >> {victim}")
    res = restore(lab, restore_manifest=state["dir"] + "/manifest.json")
    assert res.rc != 0
    msgs = failure_messages(res)
    assert any("does not match the checksum in the manifest" in msg and "nothing was restored" in msg
               for msg in msgs), msgs
    assert all_counts(lab, HOST) == before
    assert lab.sh(HOST, "docker", "inspect", "-f", "{{.Id}}", "agenta-oss-gh-api-1").stdout.strip() == container_id
    assert health(lab.hosts[HOST].api_url) == 200


def test_restore_of_a_checksummed_file_that_is_no_dump_changes_no_database_and_puts_the_files_back(lab, state):
    """The manifest's checksum matches, but the file is not a dump: agenta.fleet.deployment_restore has replaced the
    env file and removed the app services, lists every dump before it drops the first database, and then puts the
    env file back as it was, starts the services again and says that no database was changed."""
    core = "agenta_oss" if lab.hosts[HOST].layout == "g1" else "agenta_oss_core"
    lab.psql(HOST, core, "DELETE FROM apps WHERE ctid IN (SELECT ctid FROM apps LIMIT 3)")
    folder = backup(lab, backup_force=True, agenta_backup_dir="/var/backups/agenta-nodump")["path"]
    before, env_before = all_counts(lab, HOST), lab.sh(HOST, "cat", ENV_FILE).stdout
    manifest = folder + "/manifest.json"
    m = read_json(lab, HOST, manifest)
    entry = next(d for d in m["databases"] if d["format"] == "custom")
    lab.sh(HOST, "sh", "-c", f"printf 'not a dump\\n' > {folder}/{entry['file']}")
    entry["sha256"] = lab.sh(HOST, "sha256sum", f"{folder}/{entry['file']}").stdout.split()[0]
    lab.sh(HOST, "tee", manifest, input=json.dumps(m))
    res = restore(lab, restore_manifest=manifest)
    assert res.rc != 0
    msgs = failure_messages(res)
    assert any(msg.startswith(f"The restore of {HOST} failed before any database was changed and the services were "
                              "started again as they were") for msg in msgs), msgs
    assert all_counts(lab, HOST) == before
    assert lab.sh(HOST, "cat", ENV_FILE).stdout == env_before
    assert lab.sh(HOST, "test", "-e", ENV_FILE + ".before-restore", check=False).returncode != 0
    assert health(lab.hosts[HOST].api_url) == 200


def test_a_backup_taken_while_the_api_writes_counts_the_rows_of_its_dump(lab):
    """Rows written all through the backup: the manifest's counts are those of the snapshot pg_dump dumped (counted
    in it), so the trial restore of every dump finds exactly them. Counted before the dump, as it once was, the trial
    restore found the rows written in between and the backup failed; without a trial restore a rollback from that
    backup would fail its own comparison with the manifest, after the databases were replaced."""
    core = "agenta_oss" if lab.hosts[HOST].layout == "g1" else "agenta_oss_core"
    lab.psql(HOST, core, "CREATE TABLE fleet_writes (id serial PRIMARY KEY)")
    writer = ("while [ ! -e /tmp/fleet-stop-writes ]; do psql -h 127.0.0.1 -U username -d %s -qc "
              "'INSERT INTO fleet_writes DEFAULT VALUES' || exit 1; done" % core)
    lab.sh(HOST, "rm", "-f", "/tmp/fleet-stop-writes")
    c = lab.hosts[HOST].container
    subprocess.run(["docker", "exec", "-d", "-e", "PGPASSWORD", c, "sh", "-c", writer], check=True,
                   env={**os.environ, "PGPASSWORD": DB_PASSWORD})
    try:
        written = lambda: int(lab.psql(HOST, core, "SELECT count(*) FROM fleet_writes"))  # noqa: E731
        start = written()
        deadline = time.monotonic() + 30
        while written() == start and time.monotonic() < deadline:
            time.sleep(0.2)
        assert written() > start, "the writer wrote nothing"
        result = backup(lab, backup_force=True, backup_trial_restore=True, agenta_backup_dir="/var/backups/agenta-writes")
        assert result["trial_restore"] is True
        m = read_json(lab, HOST, result["manifest"])
        counted = next(d for d in m["databases"] if d["name"] == core)["tables"]["fleet_writes"]
        assert start < counted < written()  # rows came before, during and after the dump
    finally:
        lab.sh(HOST, "touch", "/tmp/fleet-stop-writes")
        time.sleep(0.5)
        lab.psql(HOST, core, "DROP TABLE IF EXISTS fleet_writes")
