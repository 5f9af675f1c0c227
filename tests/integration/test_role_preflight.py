"""agenta.fleet.preflight on real lab hosts: passes on healthy G1 (v0.43.0) and G3 (v0.104.0) hosts with facts
that match real psql, and fails early with one sentence (changing nothing) when the api container is stopped or
missing, the backup disk is too small, a migration holds an advisory lock or is connected, the env file is
missing, or the Docker SDK for Python is missing.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import DB_PASSWORD
from role_support import (ENV_FILE, apply_role, changed_count, container_states, failed_tasks, failure,
                          password_leaked, sha256, start_lab, task_result)

HOST = "staging-1"
PG = "agenta-oss-gh-postgres-1"
API = "agenta-oss-gh-api-1"


@pytest.fixture(scope="module")
def g1(lab_factory):
    return start_lab(lab_factory, "v0.43.0", production=0)


@pytest.fixture(scope="module")
def g3(lab_factory):
    return start_lab(lab_factory, "v0.104.0", production=0)


def snapshot(lab):
    return sha256(lab, HOST, ENV_FILE), container_states(lab, HOST)


def recorded(run):
    return task_result(run, HOST, "Record the state before the upgrade")["ansible_facts"]["preflight_result"]


def db_size(lab):
    return int(lab.psql(HOST, "postgres", "SELECT sum(pg_database_size(datname))::bigint FROM pg_database "
                        "WHERE datname LIKE 'agenta\\_%' OR datname LIKE 'supertokens\\_%'"))


@pytest.mark.parametrize("layout,check", [("g1", False), ("g1", True), ("g3", False)],
                         ids=["g1", "g1-check", "g3"])
def test_healthy_host_passes_and_records_what_psql_sees(layout, check, request):
    lab = request.getfixturevalue(layout)
    before = snapshot(lab)
    run = apply_role(lab, "preflight", HOST, check=check)
    assert run.rc == 0, run.stdout[-4000:]
    assert changed_count(run, HOST) == 0
    assert not password_leaked(run)
    facts = recorded(run)
    assert facts["layout"] == layout
    assert facts["revisions"] == {chain: rev or "base" for chain, rev in lab.revisions(HOST).items()}
    assert facts["pending_total"] == 0
    assert facts["row_counts"] == lab.row_counts(HOST)
    assert facts["row_counts"]["agenta_oss.apps" if layout == "g1" else "agenta_oss_tracing.spans"] >= 300
    # The API and autovacuum touch the databases meanwhile: the sizes agree to a few pages, not to the byte.
    size = db_size(lab)
    assert size > 1 << 20 and abs(facts["db_size_bytes"] - size) < size // 50, (facts["db_size_bytes"], size)
    assert facts["measured_dir"] == "/var/backups" and facts["backup_dir"] == "/var/backups/agenta"
    avail = int(lab.sh(HOST, "df", "-P", "-B1", "/var/backups").stdout.splitlines()[-1].split()[3])
    # Other labs on this machine write to the same disk meanwhile: the figures agree only roughly.
    assert abs(facts["free_bytes"] - avail) < max(avail // 5, 2 << 30), (facts["free_bytes"], avail)
    assert snapshot(lab) == before


@pytest.mark.parametrize("how", ["stopped", "missing"])
def test_stopped_or_missing_api_container_fails_early(g1, how):
    g1.sh(HOST, "docker", "stop" if how == "stopped" else "rm", *([] if how == "stopped" else ["-f"]), API)
    try:
        before = snapshot(g1)
        run = apply_role(g1, "preflight", HOST)
        assert failure(run, HOST) == (
            f"The api container {API} on {HOST} is exited, not running; start it (docker compose up -d) and run again."
            if how == "stopped" else
            f"Compose project agenta-oss-gh has no api container on {HOST}; bring the deployment up (docker compose "
            "up -d) and run again.")
        assert snapshot(g1) == before
    finally:
        g1.compose(HOST, "up", "-d", "--wait")


def test_too_little_disk_fails(g1):
    before = snapshot(g1)
    run = apply_role(g1, "preflight", HOST, {"preflight_disk_factor": 100000})
    msg = failure(run, HOST)
    assert msg.startswith(f"Free space at /var/backups (nearest existing parent of /var/backups/agenta) on {HOST} is ")
    assert ", less than 100000 x the databases' size of " in msg
    assert msg.endswith("; free space there or set preflight_backup_dir to a bigger disk.")
    assert [name.endswith("Require a deployment that is ready for the run") for name, _res in failed_tasks(run, HOST)] == [True]
    assert snapshot(g1) == before


def hold_session(lab, appname, sql):
    """A real psql session inside the postgres container, in the background, until it is killed."""
    names = ["-e", "PGPASSWORD", "-e", "PGAPPNAME"]
    proc = subprocess.Popen(["docker", "exec", *names, lab.hosts[HOST].container, "docker", "exec", *names, PG,
                             "psql", "-h", "127.0.0.1", "-U", "username", "-d", "agenta_oss", "-c", sql],
                            env={**os.environ, "PGPASSWORD": DB_PASSWORD, "PGAPPNAME": appname},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(60):
        pid = lab.psql(HOST, "postgres", f"SELECT pid FROM pg_stat_activity WHERE application_name = '{appname}' "
                       "AND state = 'active'")
        if pid:
            return proc, int(pid)
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("the background psql session did not start")


@pytest.mark.parametrize("appname,sql,what", [
    ("fake-migration", "SELECT pg_advisory_lock(1095190132); SELECT pg_sleep(600)", "holds an advisory lock"),
    ("agenta.fleet.alembic_migration test", "SELECT pg_sleep(600)", "is connected"),
])
def test_running_migration_fails(g1, appname, sql, what):
    proc, pid = hold_session(g1, appname, sql)
    try:
        before = snapshot(g1)
        run = apply_role(g1, "preflight", HOST)
        assert failure(run, HOST) == (f"A migration seems to be running on {HOST}: session {pid} ({appname}, "
                                      f"database agenta_oss) {what}; wait for it to finish (or end that session) "
                                      "and run again.")
        assert snapshot(g1) == before
    finally:
        g1.psql(HOST, "postgres", f"SELECT pg_terminate_backend({pid})")
        proc.kill()
        proc.wait()


def test_missing_env_file_fails(g1):
    g1.sh(HOST, "mv", ENV_FILE, ENV_FILE + ".away")
    try:
        states = container_states(g1, HOST)
        run = apply_role(g1, "preflight", HOST)
        assert failure(run, HOST) == (f"The env file {ENV_FILE} is missing on {HOST}; put it back (or set "
                                      "agenta_env_file to where it is) and run again.")
        assert container_states(g1, HOST) == states
    finally:
        g1.sh(HOST, "mv", ENV_FILE + ".away", ENV_FILE)


def test_missing_docker_sdk_fails_with_what_to_install(g1):
    # A Python without site packages cannot import the Docker SDK that python3-docker installs: the read fails,
    # and only then are the libraries checked, and the missing one named.
    g1.sh(HOST, "tee", "/tmp/python-nosite", input="#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n")
    g1.sh(HOST, "chmod", "755", "/tmp/python-nosite")
    before = snapshot(g1)
    run = apply_role(g1, "preflight", HOST, {"ansible_python_interpreter": "/tmp/python-nosite"})
    assert failure(run, HOST) == (f"The Docker SDK for Python is missing on {HOST}; install python3-docker "
                                  "(Debian/Ubuntu) or pip install docker, or set preflight_install_libs: true.")
    assert task_result(run, HOST, "Read the deployment")["msg"].startswith("The Docker SDK for Python is missing")
    assert task_result(run, HOST, "Require a deployment that is ready for the run") is None
    assert snapshot(g1) == before


def test_read_only_env_file_fails_before_anything_is_written(g1):
    # The env file bind-mounted read-only onto itself: it can be read, but the tag update could not replace it.
    g1.sh(HOST, "sh", "-c", f"mount --bind {ENV_FILE} {ENV_FILE} && mount -o remount,ro,bind {ENV_FILE}")
    try:
        before = snapshot(g1)
        run = apply_role(g1, "preflight", HOST)
        assert failure(run, HOST) == (
            f"{ENV_FILE} is a mount point of its own, so it cannot be replaced; mount its folder instead, or copy it "
            f"into place on {HOST}, and the run writes it; make it writable (or set agenta_env_file, "
            "agenta_backup_dir or agenta_state_dir elsewhere) and run again.")
        assert snapshot(g1) == before
    finally:
        g1.sh(HOST, "umount", ENV_FILE)


def test_unwritable_state_folder_fails(g1):
    g1.sh(HOST, "sh", "-c", "mkdir -p /srv/ro-state && mount -t tmpfs -o ro tmpfs /srv/ro-state")
    try:
        run = apply_role(g1, "preflight", HOST, {"preflight_state_dir": "/srv/ro-state/fleet"})
        assert failure(run, HOST).startswith(
            f"/srv/ro-state/fleet cannot be created: /srv/ro-state is not writable on {HOST}, and the run writes it;")
    finally:
        g1.sh(HOST, "sh", "-c", "umount /srv/ro-state && rmdir /srv/ro-state")


@pytest.mark.parametrize("folder,sentence", [
    ("/usr", "The backup folder /usr is a system folder; choose a folder of its own such as /var/backups/agenta."),
    ("/var/backups/agenta/../..", "The backup folder /var/backups/agenta/../.. is not a normalised path (it means "
                                  "/var); name the folder without '.', '..' or '//'."),
])
def test_a_backup_folder_that_is_not_its_own_fails(g1, folder, sentence):
    before = g1.sh(HOST, "stat", "-c", "%a %U", "/usr").stdout
    run = apply_role(g1, "preflight", HOST, {"preflight_backup_dir": folder})
    assert failure(run, HOST) == sentence
    assert g1.sh(HOST, "stat", "-c", "%a %U", "/usr").stdout == before
