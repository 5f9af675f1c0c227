"""Helpers shared by the test_role_*.py modules (no tests here).

Each helper runs a real ansible-playbook (through the conftest's Lab.playbook) that applies one role of
agenta.fleet to one lab host, or looks inside a lab host with real docker / psql commands.
"""

from __future__ import annotations

import json

import yaml

from conftest import DB_PASSWORD, labmod

ENV_FILE = labmod.ENV_FILE
PROJECT = labmod.PROJECT


def start_lab(lab_factory, release, attempts=8, production=1):
    """lab_factory(release, staging=1, production=1), moving on when another lab already publishes the ports.
    production=0 for a module whose tests never touch a second host (one host less to start)."""
    for attempt in range(attempts):
        try:
            return lab_factory(release, staging=1, production=production)
        except AssertionError as exc:
            if "is taken" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def role_play(role, host, role_vars=None, post_tasks=None):
    play = {"name": f"apply {role}", "hosts": host, "gather_facts": False,
            "roles": [{"role": f"agenta.fleet.{role}", "vars": role_vars or {}}]}
    if post_tasks:
        play["post_tasks"] = post_tasks
    return yaml.safe_dump([play], sort_keys=False)


def apply_role(lab, role, host, role_vars=None, *, check=False, diff=False, post_tasks=None):
    run = lab.playbook(role_play(role, host, role_vars, post_tasks), limit=host, check=check, diff=diff)
    if "{" not in run.stdout:
        raise AssertionError(f"ansible-playbook gave no JSON:\n{run.stdout}\n{run.stderr}")
    return run


def task_result(run, host, name):
    """Result of the last task whose name ends with `name` for `host` (None when it did not run)."""
    found = None
    for play in run.json["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith(name) and host in task["hosts"]:
                found = task["hosts"][host]
    return found


def failed_tasks(run, host):
    out = []
    for play in run.json["plays"]:
        for task in play["tasks"]:
            res = task["hosts"].get(host)
            if res and res.get("failed") and not res.get("ignore_errors"):
                out.append((task["task"]["name"], res))
    return out


def failure(run, host):
    """The message of the one task that failed the run."""
    assert run.rc != 0, f"the run did not fail:\n{run.stdout[-3000:]}"
    failed = failed_tasks(run, host)
    assert len(failed) == 1, failed
    msg = failed[0][1]["msg"]
    assert "\n" not in msg, msg
    return msg


def changed_count(run, host):
    return run.stats[host]["changed"]


def sh_out(lab, host, *argv):
    return lab.sh(host, *argv).stdout


def sha256(lab, host, path):
    return lab.sh(host, "sha256sum", path).stdout.split()[0]


def container_env(lab, host, container):
    """The container's Config.Env as a dict (read by the test, never by the role)."""
    env = json.loads(lab.sh(host, "docker", "inspect", "--format", "{{json .Config.Env}}", container).stdout)
    return dict(item.split("=", 1) for item in env)


def container_states(lab, host):
    """name -> (id, status, exit code) for every container on the lab host."""
    out = lab.sh(host, "docker", "ps", "-aq").stdout.split()
    if not out:
        return {}
    lines = lab.sh(host, "docker", "inspect", "--format",
                   "{{.Name}} {{.Id}} {{.State.Status}} {{.State.ExitCode}}", *out).stdout.splitlines()
    return {n.lstrip("/"): (i, s, int(c)) for n, i, s, c in (line.split() for line in lines)}


def password_leaked(run):
    """True when the database password appears in the run's output as a value."""
    text = run.stdout + run.stderr
    return (f":{DB_PASSWORD}@" in text or f'"PGPASSWORD": "{DB_PASSWORD}"' in text
            or f"POSTGRES_PASSWORD={DB_PASSWORD}" in text)
