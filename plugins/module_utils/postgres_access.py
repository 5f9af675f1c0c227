# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment's PostgreSQL, reached through the Docker SDK: its container, image and network, the login of the
env file, and the deployment's own clients (psql in the container, pg_dump / pg_restore in one-shot containers of
its image). The password goes only into the environment of an exec or a one-shot container, set through the Docker
API: never into an argument, never into a result."""

from __future__ import annotations

import os

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import EnvFileError, mask, parse_env_file
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import (
    DeploymentError, db_login, first_line, plain_name, psql_argv)

# One-shot client containers are named and labelled apart from the migration's (preflight looks for those).
CLIENT_PREFIX = "agenta-fleet-pg"
CLIENT_LABEL = "agenta.fleet.postgres_client"


def connection_argument_spec():
    return dict(
        compose_project=dict(type="str", default="agenta-oss-gh"),
        postgres_service=dict(type="str", default="postgres"),
        env_file=dict(type="path", required=True),
        db_user=dict(type="str", default=""),
        db_password=dict(type="str", default="", no_log=True),
        docker_host=dict(type="str", default=docker_access.DEFAULT_DOCKER_HOST),
        timeout=dict(type="int", default=3600),
    )


class Server(object):
    """The running postgres container of a compose project and the login to use."""

    def __init__(self, client, container, user, password, env):
        self.client = client
        self.container = container
        self.name = container.name
        self.image = (container.image.tags or [container.image.id])[0]
        self.network = docker_access.network_of(container)
        self.user = plain_name(user, "database user")
        self.password = password
        self.secrets = dict(env, DB_PASSWORD=password)

    def hide(self, text):
        return mask(text, self.secrets)

    def psql(self, commands, database="postgres"):
        """The deployment's psql in its container; raises DeploymentError with psql's first line on failure."""
        code, out, err = docker_access.exec_argv(self.client, self.container, psql_argv(self.user, commands, database),
                                                 environment={"PGPASSWORD": self.password}, purpose="psql")
        if code != 0:
            raise DeploymentError(self.hide(first_line(err.decode("utf-8", "replace"))))
        return out.decode("utf-8", "replace")

    def client_run(self, argv, volumes=None, network=None, timeout=3600, purpose="pg_dump"):
        """argv in a one-shot container of the postgres image on the deployment's network (or `network`), with the
        login in its environment. Returns (exit code, stdout text, stderr text)."""
        env = {"PGPASSWORD": self.password, "PGHOST": self.name, "PGUSER": self.user, "PGCONNECT_TIMEOUT": "10"}
        code, out, err = docker_access.run_oneshot(
            self.client, self.image, argv, environment=env, network=network or self.network, timeout=timeout,
            volumes=volumes, purpose=purpose, name_prefix=CLIENT_PREFIX, labels={CLIENT_LABEL: "oneshot"})
        return code, self.hide(out.decode("utf-8", "replace")), self.hide(err.decode("utf-8", "replace"))


def open_server(params):
    """params of connection_argument_spec() -> Server. Raises DeploymentError or DockerAccessError (one sentence)."""
    path = params["env_file"]
    try:
        with open(path, "rb") as handle:
            env = parse_env_file(handle.read().decode("utf-8", "replace"), path)
    except (IOError, OSError) as exc:
        raise DeploymentError("Could not read the env file %s: %s." % (path, exc.strerror or exc))
    except EnvFileError as exc:
        raise DeploymentError(mask(str(exc)))
    login = db_login(env)
    user = params["db_user"] or login["user"]
    password = params["db_password"] or login["password"]
    if not password:
        raise DeploymentError("Found no POSTGRES_PASSWORD (nor a POSTGRES_URI with a password) in %s; set "
                              "agenta_db_password." % path)
    client = docker_access.connect(params["docker_host"], params["timeout"])
    container = docker_access.find_container(client, project=params["compose_project"],
                                             service=params["postgres_service"])
    return Server(client, container, user, password, env)


def ident(name):
    """A database name as a quoted SQL identifier (after the plain-name check)."""
    return '"%s"' % plain_name(name, "database")


def dump_file(name, fmt):
    return "%s.%s" % (name, "dump" if fmt == "custom" else "dir")


def within(folder, relative):
    """folder/relative, refusing a relative path that leaves folder."""
    path = os.path.normpath(os.path.join(folder, relative))
    if relative.startswith("/") or not (path == folder or path.startswith(folder.rstrip("/") + "/")):
        raise DeploymentError("The dump %s lies outside the backup %s." % (relative, folder))
    return path
