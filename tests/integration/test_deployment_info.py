"""agenta.fleet.deployment_info on a real G3 lab host (v0.104.0), in community.postgresql's style: call the module,
assert, re-query the host with its own psql and docker CLI, repeat in check mode. Nothing is mocked.

The password reaches psql only through the exec's environment (set through the Docker API): it is in no result and
nowhere in an -vvv run's output. The lab's password is the word "password", which every output holds anyway, so the
host's env file names a login of its own with a password that can be looked for.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import REPO
from role_support import start_lab
from test_module_support import ENV_FILE, migrate

HOST = "staging-1"
MODULE = "agenta.fleet.deployment_info"


SECRET = "Zq7-probe-4711"


@pytest.fixture(scope="module")
def g3(lab_factory):
    lab = start_lab(lab_factory, "v0.104.0", production=0)
    lab.psql(HOST, "postgres", f"CREATE ROLE fleet_probe LOGIN SUPERUSER PASSWORD '{SECRET}'")
    lab.set_env(HOST, POSTGRES_USER="fleet_probe", POSTGRES_PASSWORD=SECRET)
    return lab


def info(lab, check=False, **args):
    return migrate(lab, HOST, {"env_file": ENV_FILE, **args}, check=check, module=MODULE)


def every_table(lab, db) -> dict[str, int]:
    text = lab.psql(HOST, db, "SELECT c.relname || '=' || (xpath('/row/c/text()', query_to_xml(format("
                              "'SELECT count(*) AS c FROM public.%I', c.relname), false, true, '')))[1]::text "
                              "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                              "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')")
    return {f"{db}.{k}": int(v) for k, v in (line.rsplit("=", 1) for line in text.splitlines())}


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
def test_reads_the_deployment_as_its_own_psql_and_docker_see_it(g3, check):
    res = info(g3, check=check, count_rows=True, space_at="/var/backups/agenta")
    assert res.get("failed") is not True, res
    assert res["changed"] is False
    # Containers, as the host's docker CLI sees them.
    for service in ("api", "postgres", "alembic"):
        name = res["containers"][service]["name"]
        state, image, code = g3.sh(HOST, "docker", "inspect", "-f", "{{.State.Status}} {{.Config.Image}} "
                                   "{{.State.ExitCode}}", name).stdout.split()
        assert res["containers"][service]["state"] == state and res["containers"][service]["image"] == image
        assert res["containers"][service]["exit_code"] == int(code)
    assert res["containers"]["api"]["state"] == "running" and res["oneshots"] == []
    assert res["engine"]["version"] == g3.sh(HOST, "docker", "version", "-f", "{{.Server.Version}}").stdout.strip()
    # The env file: settings without secrets.
    assert res["env"]["exists"] and res["env"]["error"] is None and res["env"]["has_password"] is True
    assert res["env"]["settings"]["POSTGRES_PASSWORD"] == "********"
    assert res["env"]["settings"]["AGENTA_API_IMAGE_TAG"] == "v0.104.0"
    # The database, re-queried.
    db = res["database"]
    assert db["answered"] and db["error"] is None
    assert sorted(d["name"] for d in db["databases"]) == sorted(
        g3.psql(HOST, "postgres", "SELECT datname FROM pg_database WHERE NOT datistemplate").split())
    assert [d["name"] for d in db["selected"]] == ["agenta_oss_core", "agenta_oss_supertokens", "agenta_oss_tracing"]
    assert db["size_bytes"] == sum(d["size"] for d in db["selected"]) > 1 << 20
    assert db["sessions"] == []
    expected = {**every_table(g3, "agenta_oss_core"), **every_table(g3, "agenta_oss_tracing")}
    assert db["row_counts"] == expected
    revisions = g3.revisions(HOST)
    assert db["versions"] == {"agenta_oss_core.alembic_version": revisions["core"],
                              "agenta_oss_core.alembic_version_oss": revisions["core_oss"],
                              "agenta_oss_tracing.alembic_version": revisions["tracing"],
                              "agenta_oss_tracing.alembic_version_oss": revisions["tracing_oss"]}
    avail = int(g3.sh(HOST, "df", "-P", "-B1", "/var/backups").stdout.splitlines()[-1].split()[3])
    assert res["space"]["measured"] == "/var/backups"
    assert abs(res["space"]["free_bytes"] - avail) < max(avail // 5, 2 << 30)
    assert SECRET not in repr(res)


def test_listed_tables_only_and_what_does_not_exist_is_left_out(g3):
    res = info(g3, tables={"agenta_oss_core": ["projects", "no_such_table"], "agenta_oss_tracing": ["spans"],
                           "no_such_database": ["x"]})
    assert set(res["database"]["row_counts"]) == {"agenta_oss_core.projects", "agenta_oss_tracing.spans"}
    assert res["database"]["row_counts"]["agenta_oss_tracing.spans"] == int(
        g3.psql(HOST, "agenta_oss_tracing", "SELECT count(*) FROM spans"))


def test_a_wrong_password_is_a_finding_and_is_never_shown(g3):
    res = info(g3, db_password="not-the-password-4711", count_rows=True)
    assert res.get("failed") is not True, res
    assert res["database"]["answered"] is False
    assert "password authentication failed" in res["database"]["error"]
    assert "not-the-password-4711" not in repr(res)


def test_without_the_database_only_docker_is_read(g3):
    res = info(g3, database=False)
    assert res["database"]["checked"] is False and res["database"]["databases"] == []
    assert res["containers"]["postgres"]["state"] == "running"


def test_bad_input_fails_in_one_sentence(g3):
    res = info(g3, tables={"agenta_oss_core": "projects"})
    assert res["failed"] and res["msg"] == "tables must map each database to a list of tables; agenta_oss_core does not."
    res = info(g3, tables={"agenta_oss_core": ["projects; DROP TABLE projects"]})
    assert res["database"]["answered"] is True
    assert "is not a plain PostgreSQL name" in res["database"]["error"]
    assert int(g3.psql(HOST, "agenta_oss_core", "SELECT count(*) FROM projects")) > 0


def test_the_password_is_nowhere_in_a_very_verbose_run(g3, tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(f"- hosts: {HOST}\n  gather_facts: false\n  tasks:\n    - {MODULE}:\n"
                    f"        env_file: {ENV_FILE}\n        count_rows: true\n")
    env = {**g3.ansible_env(), "ANSIBLE_STDOUT_CALLBACK": "default"}
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "-i", str(g3.inventory),
                           str(play)], capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "agenta_oss_core.projects" in proc.stdout and '"db_user": "fleet_probe"' in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr


def sample_processes(needle: str, stop: threading.Event, found: list[str]) -> None:
    """Every process of this machine (the controller, the lab hosts and the containers inside them share its
    kernel), five times a second: keep each command line that holds needle."""
    while not stop.is_set():
        out = subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True).stdout
        found.extend(line for line in out.splitlines() if needle in line)
        stop.wait(0.2)


def verbose_playbook(lab, name: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**lab.ansible_env(), "ANSIBLE_STDOUT_CALLBACK": "default"}
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "-i", str(lab.inventory),
                           str(REPO / "playbooks" / name), "-l", HOST, *extra], capture_output=True, text=True,
                          timeout=1200, env=env, cwd=REPO)


def test_an_upgrade_and_a_rollback_put_the_password_in_no_command_line_and_no_output(g3):
    """The collection's database work (preflight, backup, dumps, verify, restore) goes through modules that set the
    password in the exec's or one-shot container's environment: sampled `ps` of the whole machine and the -vvv
    output of both runs never show it."""
    before = g3.revisions(HOST)
    seen: list[str] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_processes, args=(SECRET, stop, seen), daemon=True)
    sampler.start()
    try:
        up = verbose_playbook(g3, "upgrade-agenta.yml", "-e", "agenta_target_tag=v0.113.0")
        down = verbose_playbook(g3, "rollback-agenta.yml")
    finally:
        stop.set()
        sampler.join()
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-2000:]
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-2000:]
    assert g3.revisions(HOST) == before
    shown = [line[:300] for line in (up.stdout + up.stderr + down.stdout + down.stderr).splitlines() if SECRET in line]
    assert shown == []
    assert seen == []
