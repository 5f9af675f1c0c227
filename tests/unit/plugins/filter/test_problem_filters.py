"""Unit tests of agenta.fleet.preflight_problem and agenta.fleet.verify_problem: the first reason a host is not
ready for a run, and the first thing wrong after an upgrade or a rollback, each from one read of the deployment."""

from __future__ import annotations

import copy

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.filter import preflight_problem as pre
from ansible_collections.agenta.fleet.plugins.filter import verify_problem as ver

preflight_problem, verify_problem = pre.preflight_problem, ver.verify_problem


def changed(base, **changes):
    """A deep copy of base with each a__b=value set (keys joined by __)."""
    out = copy.deepcopy(base)
    for path, value in changes.items():
        where = out
        keys = path.split("__")
        for key in keys[:-1]:
            where = where[key]
        where[keys[-1]] = value
    return out


# ------------------------------------------------------------------------------------------ preflight_problem
COMPOSE, ENV, BACKUP = "/opt/a/docker-compose.gh.yml", "/opt/a/.env.oss.gh", "/var/backups/agenta"
SETTINGS = {"host": "staging-1", "compose_project": "agenta-oss-gh", "compose_file": COMPOSE, "env_file": ENV,
            "database": True, "services": ["postgres", "api"], "postgres_service": "postgres", "api_service": "api",
            "alembic_service": "alembic", "api_down_allowed": False, "api_optional": False, "run_id": "upgrade-1",
            "lock_stale_after": 21600, "break_lock": False, "backup_dir": BACKUP, "disk_factor": 2}
READY = {
    "engine": {"version": "20.10.24"},
    "files": {COMPOSE: {"kind": "file", "problem": None}, ENV: {"kind": "file", "problem": None},
              BACKUP: {"kind": "missing", "problem": None}},
    "backup_dir_problem": None,
    "run_lock": {"held": False},
    "containers": {"postgres": {"name": "agenta-oss-gh-postgres-1", "state": "running"},
                   "api": {"name": "agenta-oss-gh-api-1", "state": "running"},
                   "alembic": {"name": "agenta-oss-gh-alembic-1", "state": "exited", "exit_code": 0}},
    "oneshots": [],
    "env": {"error": None, "has_password": True},
    "database": {"answered": True, "error": None, "sessions": [], "size_bytes": 1000},
    "space": {"free_bytes": 10 ** 9, "measured": "/var/backups"},
}


def test_a_ready_host_has_no_problem():
    assert preflight_problem(READY, SETTINGS) == ""
    assert pre.FilterModule().filters()["preflight_problem"] is preflight_problem


@pytest.mark.parametrize("changes,settings,sentence", [
    ({"failed": True, "msg": "Could not reach the Docker engine\nsecond line"}, {},
     "The Docker engine on staging-1 does not answer (Could not reach the Docker engine); start it (systemctl start "
     "docker) and run again."),
    ({"files__" + COMPOSE: {"kind": "missing", "problem": None}}, {},
     f"The compose file {COMPOSE} is missing on staging-1; put it back (or set agenta_compose_file to where it is) "
     "and run again."),
    ({"files__" + ENV: {"kind": "dir", "problem": None}}, {},
     f"The env file {ENV} is missing on staging-1; put it back (or set agenta_env_file to where it is) and run again."),
    ({"files__" + ENV: {"kind": "file", "problem": f"{ENV} is read-only"}}, {},
     f"{ENV} is read-only on staging-1, and the run writes it; make it writable (or set agenta_env_file, "
     "agenta_backup_dir or agenta_state_dir elsewhere) and run again."),
    ({"backup_dir_problem": "The backup folder is shared."}, {}, "The backup folder is shared."),
    ({"run_lock": {"held": True, "holder": "upgrade-2 (root@ctl)", "journal": {"run_id": "upgrade-2"},
                   "age_seconds": 60}}, {},
     "staging-1 is being changed by upgrade-2 (root@ctl); wait for that run to end or, if it is dead (its "
     "controller was stopped), run again with -e agenta_break_lock=true."),
    ({"containers__api": {"name": "agenta-oss-gh-api-1", "state": "exited"}}, {},
     "The api container agenta-oss-gh-api-1 on staging-1 is exited, not running; start it (docker compose up -d) and "
     "run again."),
    ({"containers__postgres": None}, {},
     "Compose project agenta-oss-gh has no postgres container on staging-1; bring the deployment up (docker compose "
     "up -d) and run again."),
    ({"oneshots": ["agenta-fleet-migrate-1"]}, {},
     "A migration is running on staging-1: container agenta-fleet-migrate-1 is at work; wait for it to finish and "
     "run again."),
    ({"containers__alembic": {"name": "agenta-oss-gh-alembic-1", "state": "running"}}, {},
     "A migration is running on staging-1: container agenta-oss-gh-alembic-1 is at work; wait for it to finish and "
     "run again."),
    ({"env__error": "Line 3 of the env file is not KEY=value."}, {}, "Line 3 of the env file is not KEY=value."),
    ({"env__has_password": False}, {},
     f"Found no POSTGRES_PASSWORD (nor a POSTGRES_URI with a password) in {ENV} on staging-1; set agenta_db_password."),
    ({"database__answered": False, "database__error": "password authentication failed"}, {},
     "The database in agenta-oss-gh-postgres-1 on staging-1 does not answer (password authentication failed); check "
     f"the postgres container (docker compose logs postgres) and the login in {ENV}, then run again."),
    ({"database__sessions": [{"pid": 42, "application_name": "", "database": "agenta_oss",
                              "what": "holds a lock on alembic_version"}]}, {},
     "A migration seems to be running on staging-1: session 42 (no application name, database agenta_oss) holds a "
     "lock on alembic_version; wait for it to finish (or end that session) and run again."),
    ({"space__free_bytes": 1500}, {},
     f"Free space at /var/backups (nearest existing parent of {BACKUP}) on staging-1 is 1.46 KB, less than 2 x the "
     "databases' size of 1000.00 Bytes; free space there or set preflight_backup_dir to a bigger disk."),
])
def test_the_first_problem_is_said_in_one_sentence(changes, settings, sentence):
    assert preflight_problem(changed(READY, **changes), {**SETTINGS, **settings}) == sentence


@pytest.mark.parametrize("changes,settings", [
    # the run's own lock, a stale lock, or -e agenta_break_lock=true
    ({"run_lock": {"held": True, "holder": "x", "journal": {"run_id": "upgrade-1"}, "age_seconds": 5}}, {}),
    ({"run_lock": {"held": True, "holder": "x", "journal": {"run_id": "other"}, "age_seconds": 30000}}, {}),
    ({"run_lock": {"held": True, "holder": "x", "journal": {"run_id": "other"}, "age_seconds": None}}, {}),
    ({"run_lock": {"held": True, "holder": "x", "journal": {"run_id": "other"}, "age_seconds": 5}},
     {"break_lock": True}),
    # an api that is down, when the caller allows it
    ({"containers__api": {"name": "api-1", "state": "exited"}}, {"api_down_allowed": True}),
    ({"containers__api": None}, {"api_optional": True}),
    # a host whose database another host owns: no postgres, no database checks
    ({"containers__postgres": None, "database__answered": False, "env__has_password": False,
      "backup_dir_problem": "not checked", "space__free_bytes": 0}, {"database": False}),
])
def test_what_the_caller_allows_is_no_problem(changes, settings):
    assert preflight_problem(changed(READY, **changes), {**SETTINGS, **settings}) == ""


def test_chains_asked_for_must_have_been_read_after_everything_else():
    read = dict(READY, chains={"read": True, "error": None, "layout": "g1", "revisions": {"oss": "1a0000000006"}})
    assert preflight_problem(read, {**SETTINGS, "read_chains": True}) == ""
    stopped = dict(READY, chains={"read": False, "error": None, "reason": "the api container agenta-oss-gh-api-1 is exited"})
    assert preflight_problem(stopped, {**SETTINGS, "read_chains": True}) == (
        "The Alembic chains of staging-1 could not be read through the api container (the api container "
        "agenta-oss-gh-api-1 is exited); look at its logs (docker compose logs api) and run again.")
    failed = dict(READY, chains={"read": True, "error": "Could not connect to the database."})
    assert "(Could not connect to the database)" in preflight_problem(failed, {**SETTINGS, "read_chains": True})
    # An earlier problem comes first; chains nobody asked for are not judged.
    assert preflight_problem(changed(stopped, space__free_bytes=0), {**SETTINGS, "read_chains": True}).startswith(
        "Free space at /var/backups")
    assert preflight_problem(stopped, SETTINGS) == ""


# --------------------------------------------------------------------------------------------- verify_problem
MANIFEST, NEW = "/var/backups/agenta/x/manifest.json", "ghcr.io/agenta-ai/agenta-api:v0.44.4"
VERIFY_SETTINGS = {"host": "web-1", "compose_project": "agenta-oss-gh", "env_file": ENV, "manifest": MANIFEST,
                   "services": ["postgres", "api"], "api_service": "api", "alembic_service": "alembic",
                   "health_retries": 10, "image": NEW}
HEALTHY = {
    "files": {ENV: {"kind": "file", "problem": None}},
    "manifest": {"exists": True},
    "env": {"error": None},
    "containers": {"postgres": {"name": "p-1", "state": "running"},
                   "api": {"name": "api-1", "state": "running", "image": NEW},
                   "alembic": {"name": "alembic-1", "state": "exited", "exit_code": 0}},
    "health": {"url": "http://127.0.0.1/api/health", "status": 200, "error": None},
}


def test_a_healthy_deployment_has_no_problem():
    assert verify_problem(HEALTHY, VERIFY_SETTINGS) == ""
    assert ver.FilterModule().filters()["verify_problem"] is verify_problem
    # no manifest, no image to compare, no alembic service (a release without it)
    other = changed(HEALTHY, manifest={"exists": False}, containers__alembic=None,
                    containers__api={"name": "api-1", "state": "running", "image": "other"})
    assert verify_problem(other, {**VERIFY_SETTINGS, "manifest": "", "image": ""}) == ""


@pytest.mark.parametrize("changes,sentence", [
    ({"files__" + ENV: {"kind": "missing", "problem": None}},
     f"The env file {ENV} is missing on web-1; put it back (or set agenta_env_file to where it is) and verify again."),
    ({"manifest__exists": False},
     f"The backup manifest {MANIFEST} is missing on web-1; give the manifest.json of the backup taken before the "
     "upgrade in verify_manifest."),
    ({"env__error": "Line 2 of the env file is not KEY=value."}, "Line 2 of the env file is not KEY=value."),
    ({"containers__postgres": None},
     "Compose project agenta-oss-gh has no postgres container on web-1; bring the deployment up (docker compose up "
     "-d) and verify again."),
    ({"containers__api": {"name": "api-1", "state": "restarting", "image": NEW}},
     "The api container api-1 on web-1 is restarting, not running; look at its logs (docker compose logs api), start "
     "it and verify again."),
    ({"containers__alembic": {"name": "alembic-1", "state": "exited", "exit_code": 1}},
     "The alembic container alembic-1 on web-1 is exited with exit code 1, not exited with 0; read its logs (docker "
     "compose logs alembic) and verify again."),
    ({"containers__alembic": {"name": "alembic-1", "state": "running", "exit_code": 0}},
     "The alembic container alembic-1 on web-1 is running, not exited with 0; read its logs (docker compose logs "
     "alembic) and verify again."),
    ({"health__status": 502},
     "The API health check http://127.0.0.1/api/health on web-1 answered 502 instead of 200 after 11 tries; look at "
     "the api logs (docker compose logs api) and verify again."),
    ({"health__status": 502, "health__tries": 15},
     "The API health check http://127.0.0.1/api/health on web-1 answered 502 instead of 200 after 15 tries; look at "
     "the api logs (docker compose logs api) and verify again."),
    ({"health__status": 0, "health__error": "Connection refused"},
     "The API health check http://127.0.0.1/api/health on web-1 answered nothing (Connection refused) instead of 200 "
     "after 11 tries; look at the api logs (docker compose logs api) and verify again."),
    ({"containers__api": {"name": "api-1", "state": "running", "image": "ghcr.io/agenta-ai/agenta-api:v0.43.0"}},
     "The api container api-1 on web-1 runs ghcr.io/agenta-ai/agenta-api:v0.43.0, not " + NEW + ", the image the "
     "database was migrated with; re-create it on that image (docker compose up -d) and verify again."),
])
def test_the_first_thing_wrong_after_a_run_is_said_in_one_sentence(changes, sentence):
    assert verify_problem(changed(HEALTHY, **changes), VERIFY_SETTINGS) == sentence
