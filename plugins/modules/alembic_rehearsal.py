#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alembic_rehearsal
short_description: Rehearse an Agenta upgrade on scratch copies of its databases
version_added: 0.1.0
description:
  - Copies each of the deployment's Agenta databases into a scratch database on the same server
    (C(<database>_rehearsal), C(pg_dump | pg_restore) in a one-shot container of the deployment's own PostgreSQL
    image), runs the upgrade of P(agenta.fleet.alembic_migration#module) with the new O(image) against the
    copies, reports what happened (revisions, duration, tables dropped, rows changed per table, the failing
    revision) and drops the scratch databases, whatever happened.
  - The real databases are only read. A failure such as a revision's precondition (Agenta v0.113.0's
    C(0a1b2c3d4e5f) refuses while a project has no organization) is found before anything is changed.
  - The release's own runner (C(python -m oss.databases.postgres.migrations.runner)) is not rehearsed, since its
    Python steps name the real databases. Only the Alembic chains run on the copies.
  - A scratch database left behind by a killed run has the same name and is dropped first.
  - The password is read from the env file inside the module and reaches the containers through the Docker API's
    environment, never an argument.
author:
  - Agenta fleet maintainers (@agenta-fleet)
attributes:
  check_mode:
    support: full
    description: The rehearsal changes nothing that stays (the scratch copies are dropped), so it runs in check mode
      too; that is its use in a plan.
  diff_mode:
    support: none
    description: Nothing to show as a diff.
options:
  image:
    description:
      - The new API image to rehearse with (its migration trees).
      - Its compiled Python is kept on the host for the migration that follows, as
        O(agenta.fleet.alembic_migration#module:image) says.
    type: str
    required: true
  env_file:
    description: The deployment's env file on the host (C(.env.oss.gh)); its C(POSTGRES_URI*) (or
      C(POSTGRES_USER), C(POSTGRES_PASSWORD), C(POSTGRES_DB_PREFIX)) name the databases and the login.
    type: path
    required: true
  compose_project:
    description: The deployment's Compose project.
    type: str
    default: agenta-oss-gh
  postgres_service:
    description: Its PostgreSQL service; the copy runs in a one-shot container of that service's image, on its network.
    type: str
    default: postgres
  targets:
    description: "Revision per chain, as for P(agenta.fleet.alembic_migration#module); chains not named go to their head."
    type: dict
    default: {}
  lock_timeout:
    description: Seconds to wait for the migration lock on the scratch databases.
    type: int
    default: 300
  timeout:
    description: Seconds each container (copy, migration, drop) may run.
    type: int
    default: 1800
  python:
    description: Python interpreter in the API image.
    type: str
    default: python3
  docker_host:
    description: The Docker engine to talk to.
    type: str
    default: unix:///var/run/docker.sock
requirements:
  - Docker SDK for Python (C(python3-docker)) on the managed host
seealso:
  - module: agenta.fleet.alembic_migration
  - module: agenta.fleet.alembic_migration_info
"""

EXAMPLES = r"""
- name: Rehearse the upgrade to v0.113.0 on scratch copies
  agenta.fleet.alembic_rehearsal:
    image: ghcr.io/agenta-ai/agenta-api:v0.113.0
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
  register: rehearsal
"""

RETURN = r"""
ok:
  description: Whether the migration ran to the end on the copies.
  returned: always
  type: bool
copied:
  description: The databases that were copied (those that exist on the server).
  returned: always
  type: list
  elements: str
  sample: [agenta_oss_core, agenta_oss_tracing]
dropped:
  description: Whether every scratch database was dropped again.
  returned: always
  type: bool
duration:
  description: Seconds of the whole rehearsal (copy, migration, drop).
  returned: always
  type: float
copy_duration:
  description: Seconds the copies took.
  returned: always
  type: float
layout:
  description: The migration layout of the new image.
  returned: when the migration ran
  type: str
chains:
  description: Per chain, as P(agenta.fleet.alembic_migration#module) returns them (before, after, applied, duration, output).
  returned: when the migration ran
  type: list
  elements: dict
tables_changed:
  description: Tables the rehearsed migration dropped, created or changed the row count of, named by their real
    database (C({database, table, rows_before, rows_after, change, by})).
  returned: when the migration ran
  type: list
  elements: dict
destructive:
  description: What the pending revisions destroy, as planned before they ran (real database names).
  returned: when the migration ran
  type: list
  elements: dict
summary:
  description: One sentence on what the rehearsal found.
  returned: always
  type: str
  sample: "Rehearsed on copies of agenta_oss_core, agenta_oss_tracing in 41.2 s: 35 revisions, 20 tables dropped."
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access, rehearsal
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import (
    EnvFileError, build_spec, last_line, mask, parse_env_file)
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_runner import (
    RunError, holder_label, require_docker, run_driver)


def _text(data):
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")


def summarize(names, seconds, result):
    chains = result.get("chains") or []
    revisions = sum(len(c.get("applied") or []) for c in chains)
    dropped = [t for t in result.get("tables_changed") or [] if t.get("change") == "dropped"]
    fewer = [t for t in result.get("tables_changed") or [] if t.get("change") == "fewer"]
    text = "Rehearsed on copies of %s in %.1f s: %d revision%s" % (
        ", ".join(names) or "no database", seconds, revisions, "" if revisions == 1 else "s")
    if dropped:
        text += ", %d table%s dropped" % (len(dropped), "" if len(dropped) == 1 else "s")
    if fewer:
        text += ", %d table%s with fewer rows" % (len(fewer), "" if len(fewer) == 1 else "s")
    return text + "."


def main():
    module = AnsibleModule(
        argument_spec=dict(
            image=dict(type="str", required=True),
            env_file=dict(type="path", required=True),
            compose_project=dict(type="str", default="agenta-oss-gh"),
            postgres_service=dict(type="str", default="postgres"),
            targets=dict(type="dict", default={}),
            lock_timeout=dict(type="int", default=300),
            timeout=dict(type="int", default=1800),
            python=dict(type="str", default="python3"),
            docker_host=dict(type="str", default=docker_access.DEFAULT_DOCKER_HOST),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["lock_timeout"] < 0 or p["lock_timeout"] >= p["timeout"]:
        module.fail_json(msg="lock_timeout (%s s) must be from 0 to below timeout (%s s)." % (p["lock_timeout"], p["timeout"]))
    require_docker(module)
    try:
        with open(p["env_file"], "r") as handle:
            env = parse_env_file(handle.read(), p["env_file"])
        server, copies, overrides = rehearsal.plan(env)
    except (IOError, OSError) as exc:
        module.fail_json(msg="Could not read env_file %s: %s." % (p["env_file"], exc.strerror or exc))
    except (EnvFileError, rehearsal.RehearsalError) as exc:
        module.fail_json(msg=str(exc))
    host, port, user, password = server
    secrets = dict(env, PGPASSWORD=password)
    pg_env = {"PGHOST": host, "PGPORT": str(port), "PGUSER": user, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"}

    started = time.monotonic()
    out = dict(changed=False, ok=False, copied=[], dropped=False, copy_duration=0.0)
    client = None
    try:
        client = docker_access.connect(p["docker_host"], p["timeout"])
        pg = docker_access.find_container(client, project=p["compose_project"], service=p["postgres_service"])
        pg_image = (pg.image.tags or [pg.image.id])[0]
        network = docker_access.network_of(pg)
        try:
            code, stdout, stderr = docker_access.run_oneshot(
                client, pg_image, ["bash", "-c", rehearsal.copy_script(copies)], environment=pg_env, network=network,
                timeout=p["timeout"])
            out["copied"] = rehearsal.copied(_text(stdout))
            out["copy_duration"] = round(time.monotonic() - started, 3)
            if code != 0:
                raise RunError("Copying %s into scratch databases failed: %s; the real databases were not touched."
                               % (", ".join(d for d, _s in copies),
                                  mask(last_line(stderr) or last_line(stdout) or "exit %s" % code, secrets).rstrip(".")))
            params = dict(image=p["image"], compose_project=p["compose_project"], env_file=p["env_file"],
                          env=overrides, network=network, python=p["python"], timeout=p["timeout"],
                          docker_host=p["docker_host"], container=None)
            spec = build_spec(dict(params, targets=p["targets"], lock_timeout=p["lock_timeout"]), "upgrade", False,
                              holder_label() + " rehearsal")
            spec["release_runner"] = False
            result = rehearsal.unscratch(run_driver(params, spec, cache_create=not module.check_mode), copies)
        finally:
            code, _o, stderr = docker_access.run_oneshot(
                client, pg_image, ["bash", "-c", rehearsal.drop_script(copies)], environment=pg_env, network=network,
                timeout=p["timeout"])
            out["dropped"] = code == 0
    except docker_access.DockerAccessError as exc:
        out["duration"] = round(time.monotonic() - started, 3)
        module.fail_json(msg=mask(str(exc), secrets), summary=mask(str(exc), secrets), **out)
    except RunError as exc:
        out["duration"] = round(time.monotonic() - started, 3)
        module.fail_json(msg=exc.msg, summary=exc.msg, **out)
    finally:
        if client is not None:
            try:
                client.close()
            except Exception:
                pass

    out["duration"] = round(time.monotonic() - started, 3)
    for key in ("layout", "chains", "tables_changed", "destructive"):
        out[key] = result.get(key)
    if not out["dropped"]:
        out["summary"] = ("The scratch databases %s could not all be dropped; drop them by hand (DROP DATABASE ... "
                          "WITH (FORCE))." % ", ".join(s for _d, s in copies))
        module.fail_json(msg=out["summary"], **out)
    if result.get("error"):
        out["summary"] = ("The rehearsal on scratch copies of %s failed: %s The real databases were not touched; "
                          "fix the cause and run again." % (", ".join(out["copied"]), result["error"].rstrip(".") + "."))
        module.fail_json(msg=out["summary"], **out)
    out["ok"] = True
    out["summary"] = summarize(out["copied"], out["duration"], result)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
