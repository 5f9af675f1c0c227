#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: database_restore
short_description: Restore an Agenta deployment's databases from dumps with its own pg_restore, or drop databases
version_added: 0.1.0
description:
  - For each entry of O(restore), drops the database it goes into (C(WITH (FORCE))), creates it empty and restores
    the dump into it with C(pg_restore --exit-on-error) in a one-shot container of the deployment's PostgreSQL image,
    on the deployment's network, the backup folder mounted read-only.
  - Then drops every database of O(drop) (for example the scratch databases of a trial restore, or Agenta databases
    that the backup did not have).
  - The login is read from the env file inside the module; the password goes into the exec's and the one-shot
    container's environment through the Docker API, never into an argument, a task's C(environment) or the result.
  - Stopping the app, the env file, the comparison with the manifest and the start are the caller's (role
    M(agenta.fleet.restore)).
author:
  - Agenta fleet maintainers (@agenta-fleet)
extends_documentation_fragment:
  - agenta.fleet.postgres_target
  - agenta.fleet.restore_job
options:
  source:
    description: The backup folder on the host that holds the dumps. Required with O(restore).
    type: path
  restore:
    description:
      - The dumps to restore, in order. Each entry has C(name) (the database the dump was taken of), C(file) (the
        dump, relative to O(source)), C(format) (V(custom), the default, or V(directory)) and optionally C(into)
        (the database to restore into; default O(into_prefix) + C(name)). Other keys are ignored, so the
        C(databases) of a backup manifest can be given as they are.
    type: list
    elements: dict
    default: []
  into_prefix:
    description: Restore each dump into C(<into_prefix><name>) unless its entry says C(into), for example the scratch
      databases C(agenta_fleet_trial_<name>) of a trial restore.
    type: str
    default: ""
  drop:
    description: Databases to drop after the restores. A database that is not there is left out (and is no change).
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: In check mode nothing is changed; the result names what would be restored and dropped.
  diff_mode:
    support: none
    description: Databases are replaced whole; there is no difference to show.
  idempotent:
    support: none
    description: Every restore replaces the databases again.
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host.
seealso:
  - module: agenta.fleet.database_backup
"""

EXAMPLES = r"""
- name: Put the databases of a backup back
  agenta.fleet.database_restore:
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    source: /var/backups/agenta/20261203T080000Z
    restore:
      - {name: agenta_oss_core, file: agenta_oss_core.dump}
      - {name: agenta_oss_tracing, file: agenta_oss_tracing.dump}

- name: Drop scratch databases
  agenta.fleet.database_restore:
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    drop: [agenta_fleet_trial_agenta_oss_core]
"""

RETURN = r"""
restored:
  description: The databases restored, in order, each with C(name), C(into) and C(seconds).
  returned: always
  type: list
  elements: dict
  sample: [{name: agenta_oss_core, into: agenta_oss_core, seconds: 1.8}]
dropped:
  description: The databases of O(drop) that were there and were dropped (in check mode, would be).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access, run_journal
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import DeploymentError, plain_name
from ansible_collections.agenta.fleet.plugins.module_utils.postgres_access import (
    connection_argument_spec, existing_databases, ident, missing_dump, open_server, restore_all,
    restore_job_argument_spec, within)


def main():
    spec = connection_argument_spec()
    spec.update(source=dict(type="path"),
                restore=dict(type="list", elements="dict", default=[]),
                into_prefix=dict(type="str", default=""),
                drop=dict(type="list", elements="str", default=[]))
    spec.update(restore_job_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if not module.check_mode:
        run_journal.outlive_connection()
    if not docker_access.HAS_DOCKER:
        module.fail_json(msg="The Docker SDK for Python is missing on this host; install python3-docker "
                             "(or pip install docker).", exception=docker_access.DOCKER_IMPORT_ERROR)
    if p["restore"] and not p["source"]:
        module.fail_json(msg="source (the backup folder) is required to restore dumps.")
    if p["jobs"] < 1:
        module.fail_json(msg="jobs must be a whole number from 1, not %s." % p["jobs"])
    try:
        items = []
        for entry in p["restore"]:
            name = plain_name(entry.get("name"), "database")
            fmt = entry.get("format") or "custom"
            if fmt not in ("custom", "directory") or not isinstance(entry.get("file"), str):
                raise DeploymentError("The dump of database %s needs a file and a format custom or directory." % name)
            into = plain_name(entry.get("into") or p["into_prefix"] + name, "database")
            items.append(dict(name=name, into=into, format=fmt, path=within(p["source"], entry["file"]),
                              file=entry["file"]))
        drops = [plain_name(n, "database") for n in p["drop"]]
    except DeploymentError as exc:
        module.fail_json(msg=str(exc))

    out = dict(changed=False, restored=[], dropped=[])
    problem = missing_dump(p["source"], items) if items else None
    if problem:
        module.fail_json(msg=str(problem), **out)
    try:
        server = open_server(p) if drops or not module.check_mode else None
        if module.check_mode:
            # Only a database that is there is dropped (and counts as a change): a second drop changes nothing.
            drops = existing_databases(server, drops)
            out.update(changed=bool(items or drops), dropped=drops,
                       restored=[dict(name=i["name"], into=i["into"], seconds=0.0) for i in items])
            module.exit_json(**out)
        out["changed"] = bool(items)
        if items:
            run_journal.note(p["run_journal"], p["run_id"], phase="restoring databases", restoring=p["source"])
            out["restored"] = restore_all(server, p["source"], items, p["jobs"], p["timeout"],
                                          note=run_journal.noter(p["run_journal"], p["run_id"]))
        # After the restores (one of them may have created a database this call also drops); only a database that
        # is there is dropped and counts as a change.
        drops = existing_databases(server, drops)
        out["changed"] = bool(items or drops)
        for name in drops:
            try:
                server.psql(["DROP DATABASE IF EXISTS %s WITH (FORCE)" % ident(name)])
            except DeploymentError as exc:
                run_journal.note(p["run_journal"], p["run_id"], progress=None)
                module.fail_json(msg="Dropping database %s failed: %s." % (name, exc), **out)
            out["dropped"].append(name)
    except (DeploymentError, docker_access.DockerAccessError) as exc:
        run_journal.note(p["run_journal"], p["run_id"], progress=None)
        if getattr(exc, "unchanged", False):
            out["changed"] = False
        module.fail_json(msg=str(exc), **out)
    if items:
        run_journal.note(p["run_journal"], p["run_id"], phase="databases restored", progress=None)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
