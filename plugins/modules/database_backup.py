#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: database_backup
short_description: Dump an Agenta deployment's databases with its own pg_dump and check that each dump reads back
version_added: 0.2.0
description:
  - Dumps each database of O(databases) with C(pg_dump) in a one-shot container of the deployment's PostgreSQL
    image, on the deployment's network, into O(dest) (umask 077, so files 0600 and folders 0700, owned by root).
  - Then checks each dump with C(pg_restore --list) in a one-shot container without network.
  - The login is read from the env file inside the module (C(POSTGRES_USER) / C(POSTGRES_PASSWORD), else the login
    of C(POSTGRES_URI) or C(POSTGRES_URI_CORE)). The password goes into the one-shot container's environment
    through the Docker API, never into an argument, a task's C(environment) or the result.
  - The backup folder, the manifest, the checksums and the retention are the caller's (role M(agenta.fleet.backup)).
author:
  - Agenta fleet maintainers (@agenta-fleet)
extends_documentation_fragment:
  - agenta.fleet.postgres_target
options:
  dest:
    description: An existing folder on the host that receives one dump per database.
    type: path
    required: true
  databases:
    description: The databases to dump, in order.
    type: list
    elements: str
    required: true
  format:
    description: V(custom) (C(pg_dump -Fc), one file C(<db>.dump)) or V(directory) (C(pg_dump -Fd), a folder C(<db>.dir)).
    type: str
    choices: [custom, directory]
    default: custom
  jobs:
    description: Parallel jobs of C(pg_dump -Fd); only with O(format=directory).
    type: int
    default: 2
attributes:
  check_mode:
    support: full
    description: In check mode nothing is dumped; the result names the files that would be written.
  diff_mode:
    support: none
    description: Dumps are new files; there is no difference to show.
  idempotent:
    support: none
    description: Every run writes new dumps.
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host.
seealso:
  - module: agenta.fleet.database_restore
  - module: agenta.fleet.deployment_info
"""

EXAMPLES = r"""
- name: Dump the databases
  agenta.fleet.database_backup:
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    dest: /var/backups/agenta/20261203T080000Z
    databases: [agenta_oss_core, agenta_oss_tracing, agenta_oss_supertokens]
"""

RETURN = r"""
dumps:
  description: One entry per database, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The database.
      type: str
      sample: agenta_oss_core
    file:
      description: The dump, relative to O(dest).
      type: str
      sample: agenta_oss_core.dump
    format:
      description: V(custom) or V(directory).
      type: str
    entries:
      description: How many entries C(pg_restore --list) read from the dump (0 for an empty database; null in check
        mode). A dump that C(pg_restore --list) cannot read, or that gives no table of contents at all, fails.
      type: int
      sample: 412
    seconds:
      description: How long the dump took.
      type: float
seconds:
  description: How long the whole run took.
  returned: always
  type: float
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import DeploymentError, first_line, plain_name
from ansible_collections.agenta.fleet.plugins.module_utils.postgres_access import (
    connection_argument_spec, dump_file, open_server)


def list_entries(text):
    return sum(1 for line in text.splitlines() if line.strip() and not line.startswith(";"))


def dump_argv(name, fmt, jobs):
    out = ["/backup/" + dump_file(name, fmt)]
    shape = ["-Fc", "-f"] + out if fmt == "custom" else ["-Fd", "-j", str(jobs), "-f"] + out
    # umask 077 inside the one-shot: every file 0600, every folder 0700, as root.
    return ["sh", "-c", 'umask 077 && exec "$@"', "agenta-backup", "pg_dump"] + shape + [name]


def main():
    spec = connection_argument_spec()
    spec.update(dest=dict(type="path", required=True),
                databases=dict(type="list", elements="str", required=True),
                format=dict(type="str", choices=["custom", "directory"], default="custom"),
                jobs=dict(type="int", default=2))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    if not docker_access.HAS_DOCKER:
        module.fail_json(msg="The Docker SDK for Python is missing on this host; install python3-docker "
                             "(or pip install docker).", exception=docker_access.DOCKER_IMPORT_ERROR)
    try:
        names = [plain_name(n, "database") for n in p["databases"]]
    except DeploymentError as exc:
        module.fail_json(msg=str(exc))
    if not names:
        module.fail_json(msg="databases names no database to dump.")
    if p["jobs"] < 1:
        module.fail_json(msg="jobs must be a whole number from 1, not %s." % p["jobs"])
    if not os.path.isdir(p["dest"]):
        module.fail_json(msg="The backup folder %s does not exist; create it (0700) first." % p["dest"])

    started = time.monotonic()
    dumps = [dict(name=n, file=dump_file(n, p["format"]), format=p["format"], entries=None, seconds=0.0) for n in names]
    if module.check_mode:
        module.exit_json(changed=True, dumps=dumps, seconds=0.0)
    try:
        server = open_server(p)
        rw = {p["dest"]: {"bind": "/backup", "mode": "rw"}}
        ro = {p["dest"]: {"bind": "/backup", "mode": "ro"}}
        for dump in dumps:
            began = time.monotonic()
            code, out, err = server.client_run(dump_argv(dump["name"], p["format"], p["jobs"]), volumes=rw,
                                               timeout=p["timeout"], purpose="pg_dump")
            if code != 0:
                module.fail_json(msg="pg_dump of database %s failed: %s." % (dump["name"], first_line(err or out)),
                                 dumps=dumps)
            dump["seconds"] = round(time.monotonic() - began, 3)
            code, out, err = server.client_run(["pg_restore", "--list", "/backup/" + dump["file"]], volumes=ro,
                                               network="none", timeout=p["timeout"], purpose="pg_restore --list")
            dump["entries"] = list_entries(out)
            if code != 0 or not out.strip():
                module.fail_json(msg="pg_restore --list cannot read the dump of database %s: %s."
                                 % (dump["name"], first_line(err or "it lists nothing")), dumps=dumps)
    except (DeploymentError, docker_access.DockerAccessError) as exc:
        module.fail_json(msg=str(exc), dumps=dumps)
    module.exit_json(changed=True, dumps=dumps, seconds=round(time.monotonic() - started, 3))


if __name__ == "__main__":
    main()
