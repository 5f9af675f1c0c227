# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """How agenta.fleet.database_backup and agenta.fleet.database_restore reach the deployment's PostgreSQL
    (module_utils/postgres_access.connection_argument_spec)."""

    DOCUMENTATION = r"""
options:
  compose_project:
    description: The Compose project of the deployment.
    type: str
    default: agenta-oss-gh
  postgres_service:
    description: The Compose service of PostgreSQL; its running container is the server, its image the client.
    type: str
    default: postgres
  env_file:
    description: Path, on the host, of the deployment's env file (the database login).
    type: path
    required: true
  db_user:
    description: Database role; empty takes the env file's.
    type: str
    default: ""
  db_password:
    description: Its password; empty takes the env file's.
    type: str
    default: ""
  docker_host:
    description: The Docker engine to talk to, as the Docker SDK for Python takes it.
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description: Seconds to wait for the Docker engine and for each dump or restore.
    type: int
    default: 3600
requirements:
  - Docker SDK for Python (C(docker)) on the host the module runs on
"""
