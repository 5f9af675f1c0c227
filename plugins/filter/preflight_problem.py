# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: preflight_problem
short_description: The first reason a host is not ready for a run, from one read of its deployment
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes what M(agenta.fleet.deployment_info) read on a host (in the role C(agenta.fleet.preflight)) and returns
    the first problem that stops a run, as one sentence saying what is wrong and what to do; an empty string when
    there is none.
  - In order, the Docker engine, the compose and env files, what the run writes, the backup folder, another run's
    lock, the key services' containers, a migration container at work; then, with O(settings.database), the env
    file's syntax, a database password, the database, a migration's session, and room for the backup; last, with
    O(settings.read_chains), the Alembic chains read through the running API.
options:
  _input:
    description: The result of M(agenta.fleet.deployment_info).
    type: dictionary
    required: true
  settings:
    description:
      - The role's settings, C(host) (the inventory name), C(compose_project), C(compose_file), C(env_file),
        C(database) (bool), C(services), C(postgres_service), C(api_service), C(alembic_service), C(api_down_allowed)
        (bool), C(api_optional) (bool), C(run_id), C(lock_stale_after) (seconds), C(break_lock) (bool),
        C(backup_dir), C(disk_factor) and C(read_chains) (bool, whether the read was asked for the chains).
    type: dictionary
    required: true
"""

EXAMPLES = r"""
- name: Require a host that is ready for the run
  ansible.builtin.assert:
    that: problem | length == 0
    fail_msg: "{{ problem }}"
  vars:
    problem: "{{ read | agenta.fleet.preflight_problem({'host': inventory_hostname, 'env_file': env_file}) }}"
"""

RETURN = r"""
_value:
  description: One sentence, or an empty string when the host is ready.
  type: string
"""

from ansible.module_utils.common.text.formatters import bytes_to_human
from ansible.module_utils.parsing.convert_bool import boolean


def _first_line(text, missing):
    lines = str(text if text is not None else missing).strip().splitlines()
    return lines[0] if lines else "no output"


def preflight_problem(read, settings):
    s = dict(settings or {})
    problem = _host_problem(read, s)
    if problem or not boolean(s.get("read_chains", False), strict=False):
        return problem
    chains = read.get("chains") or {}
    if not chains.get("read") or chains.get("error"):
        why = chains.get("error") or chains.get("reason") or "no answer"
        return ("The Alembic chains of %s could not be read through the %s container (%s); look at its logs (docker "
                "compose logs %s) and run again." % (s.get("host", "this host"), s.get("api_service"),
                                                     str(why).rstrip("."), s.get("api_service")))
    return ""


def _host_problem(read, s):
    host = s.get("host", "this host")
    files = read.get("files") or {}
    database = boolean(s.get("database", True), strict=False)

    if read.get("failed") or "engine" not in read:
        return ("The Docker engine on %s does not answer (%s); start it (systemctl start docker) and run again."
                % (host, _first_line(read.get("msg"), "no answer")))

    for path in (s.get("compose_file"), s.get("env_file")):
        if (files.get(path) or {}).get("kind") != "file":
            compose = path == s.get("compose_file")
            return ("The %s file %s is missing on %s; put it back (or set %s to where it is) and run again."
                    % ("compose" if compose else "env", path, host,
                       "agenta_compose_file" if compose else "agenta_env_file"))

    for path, found in files.items():
        if (found or {}).get("problem") is not None:
            return ("%s on %s, and the run writes it; make it writable (or set agenta_env_file, agenta_backup_dir or "
                    "agenta_state_dir elsewhere) and run again." % (found["problem"], host))

    if database and read.get("backup_dir_problem") is not None:
        return read["backup_dir_problem"]

    lock = read.get("run_lock") or {}
    if lock.get("held"):
        mine = ((lock.get("journal") or {}).get("run_id") or "") == (s.get("run_id") or "")
        age = lock.get("age_seconds")
        stale = age is None or float(age) > float(s.get("lock_stale_after") or 0)
        if not (mine or stale or boolean(s.get("break_lock", False), strict=False)):
            return ("%s is being changed by %s; wait for that run to end or, if it is dead (its controller was "
                    "stopped), run again with -e agenta_break_lock=true." % (host, lock.get("holder")))

    containers = read.get("containers") or {}
    left_out = {"" if database else s.get("postgres_service")}
    if boolean(s.get("api_down_allowed", False), strict=False) or boolean(s.get("api_optional", False), strict=False):
        left_out.add(s.get("api_service"))
    for service in s.get("services") or []:
        if service in left_out or (containers.get(service) or {}).get("state") == "running":
            continue
        found = containers.get(service)
        if found is None:
            return ("Compose project %s has no %s container on %s; bring the deployment up (docker compose up -d) "
                    "and run again." % (s.get("compose_project"), service, host))
        return ("The %s container %s on %s is %s, not running; start it (docker compose up -d) and run again."
                % (service, found.get("name"), host, found.get("state")))

    alembic = containers.get(s.get("alembic_service")) or {}
    oneshots = list(read.get("oneshots") or [])
    if alembic.get("state") == "running" or oneshots:
        busy = [name for name in oneshots + [alembic.get("name") or ""] if name] or ["?"]
        return ("A migration is running on %s: container %s is at work; wait for it to finish and run again."
                % (host, busy[0]))

    if not database:
        return ""
    env = read.get("env") or {}
    if env.get("error") is not None:
        return env["error"]
    if not env.get("has_password"):
        return ("Found no POSTGRES_PASSWORD (nor a POSTGRES_URI with a password) in %s on %s; set agenta_db_password."
                % (s.get("env_file"), host))
    db = read.get("database") or {}
    if not db.get("answered"):
        return ("The database in %s on %s does not answer (%s); check the postgres container (docker compose logs "
                "postgres) and the login in %s, then run again." % (
                    (containers.get(s.get("postgres_service")) or {}).get("name"), host, db.get("error") or "no output",
                    s.get("env_file")))
    sessions = db.get("sessions") or []
    if sessions:
        first = sessions[0]
        name = first.get("application_name") or "no application name"
        where = (host, first.get("pid", ""), name, first.get("database", ""), first.get("what", ""))
        return ("A migration seems to be running on %s: session %s (%s, database %s) %s; wait for it to finish (or "
                "end that session) and run again." % where)
    space = read.get("space") or {}
    size = int(db.get("size_bytes") or 0)
    free = int(space.get("free_bytes") or 0)
    factor = s.get("disk_factor", 2)
    if free < float(factor) * size:
        measured = space.get("measured") or ""
        backup_dir = s.get("backup_dir") or ""
        return ("Free space at %s%s on %s is %s, less than %s x the databases' size of %s; free space there or set "
                "preflight_backup_dir to a bigger disk." % (
                    measured, "" if measured == backup_dir else " (nearest existing parent of %s)" % backup_dir, host,
                    bytes_to_human(free), factor, bytes_to_human(size)))
    return ""


class FilterModule(object):
    def filters(self):
        return {"preflight_problem": preflight_problem}
