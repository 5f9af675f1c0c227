# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """Where an agenta.fleet module runs Alembic: in a running API container, or in a one-shot
    container of an image on the deployment's network."""

    DOCUMENTATION = r"""
options:
  container:
    description:
      - Name of the running Agenta API container to exec into.
      - Ignored when O(compose_project) and O(compose_service) are set.
      - When O(image) is set, only used to find the network when neither O(network) nor O(compose_project) is set.
    type: str
    default: agenta-oss-gh-api-1
  compose_project:
    description:
      - Find the container by its Compose labels C(com.docker.compose.project) and C(com.docker.compose.service)
        instead of by name. A running container is preferred.
      - With O(image), the default network is C(<compose_project>_default).
    type: str
  compose_service:
    description:
      - The Compose service of the API container, for example C(api). Goes with O(compose_project).
    type: str
  image:
    description:
      - Run in a new one-shot container of this image (which must already be on the Docker host) instead of
        exec'ing into a running container. The container is removed afterwards.
      - This is the right way after pulling a new image, because the running container still holds the old
        image's migration tree.
      - The one-shot keeps its compiled Python in a folder of the image on the host,
        C(/var/cache/agenta-fleet/pycache/<image id>) (0700, owned by the image's user, under folders of root's that
        only root can enter), so the next one-shot of the image (the migration after the plan) does not compile
        Alembic, SQLAlchemy and the app again (Agenta's images ship no bytecode). Check mode makes no folder and reads
        an existing one read-only; an image whose user is a name, not a number, runs without it; folders not used
        for two days are removed when a new one is made. An exec in a running container whose Python writes no
        bytecode (C(PYTHONDONTWRITEBYTECODE), as in Agenta's images) keeps it in the container's
        C(/tmp/agenta-fleet-pycache).
    type: str
  network:
    description:
      - Docker network of the one-shot container; only with O(image).
      - Default C(<compose_project>_default) when O(compose_project) is set, else the first network of O(container).
    type: str
  env_file:
    description:
      - Path, on the Docker host, of the deployment's env file (for example
        C(/opt/agenta/hosting/docker-compose/oss/.env.oss.gh)); its variables are given to the one-shot
        container. Parsed like Compose does (comments, quotes, C(${VAR}) references). Only with O(image).
    type: path
  env:
    description:
      - Extra environment variables for the Alembic run, in both modes. They win over O(env_file).
      - C(PYTHONPATH=/app) is always set, as in the documented manual command.
    type: dict
    default: {}
  python:
    description:
      - Python interpreter inside the image that runs the migration driver.
    type: str
    default: python3
  docker_host:
    description:
      - The Docker engine to talk to, as the Docker SDK for Python takes it.
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description:
      - Seconds to wait for the Docker engine and for the whole Alembic run.
    type: int
    default: 600
requirements:
  - Docker SDK for Python (C(docker)) on the host the module runs on
  - Inside the image, C(alembic) and C(psycopg2) or C(asyncpg), as every Agenta API image has
notes:
  - The module talks to the Docker engine of the host it runs on. Commands are passed as argument lists,
    never as a shell string.
  - All chains run in one Python process inside the container (one C(docker exec) or one one-shot container).
"""
