#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: deployment_info
short_description: Read an Agenta deployment on a host in one call, without its secrets
version_added: 0.1.0
description:
  - Reads, through the Docker SDK, what the roles need to know about one host's Agenta deployment, once; the roles
    check the result instead of reading the host again task by task.
  - The Docker engine's version; the containers of the Compose project by service (name, state, exit code, image);
    the one-shot migration containers at work.
  - The env file, parsed as Compose reads it, inside the module. Its secrets stay there; RV(env.settings) holds
    every other value.
  - The database, through the deployment's own C(psql) in its postgres container. The password goes into the
    exec's environment through the Docker API, never into an argument, a task's C(environment) or the result.
    Every database with its size, the sessions that hold an advisory lock or belong to a migration, and (with
    O(count_rows)) the exact rows of every table and the content of every Alembic version table.
  - The free space at a folder, or at its nearest existing parent.
  - Findings (a missing env file, a stopped container, a database that does not answer) are returned, not failed
    on, so that the caller can say what to do. The module fails only on bad input or an engine it cannot reach.
author:
  - Agenta fleet maintainers (@agenta-fleet)
options:
  compose_project:
    description: The Compose project of the deployment (label C(com.docker.compose.project)).
    type: str
    default: agenta-oss-gh
  postgres_service:
    description: The Compose service of PostgreSQL.
    type: str
    default: postgres
  env_file:
    description:
      - Path, on the host, of the deployment's env file. The database login is read from it (C(POSTGRES_USER),
        C(POSTGRES_PASSWORD), else the login in C(POSTGRES_URI) or C(POSTGRES_URI_CORE)).
    type: path
  db_user:
    description: Database role; empty takes the env file's.
    type: str
    default: ""
  db_password:
    description: Its password; empty takes the env file's.
    type: str
    default: ""
  database:
    description: Read the database at all. V(false) for a host whose database another host owns.
    type: bool
    default: true
  database_patterns:
    description:
      - SQL C(LIKE) patterns of the Agenta databases (RV(database.selected)). Databases the collection creates
        for itself (C(agenta_fleet_%), C(%_rehearsal)) never match.
    type: list
    elements: str
    default: [agenta_%, supertokens_%]
  count_rows:
    description:
      - Count the rows of the tables and read the version tables of the selected databases (or of O(tables)).
    type: bool
    default: false
  databases:
    description:
      - Count the rows of these databases (those that exist), instead of the selected ones. Implies O(count_rows).
    type: list
    elements: str
  tables:
    description:
      - Count only these tables, C(database) -> list of tables (C(schema.table) outside C(public)). Databases and
        tables that do not exist are left out of the result. Implies O(count_rows).
    type: dict
  space_at:
    description: A folder on the host whose free space to measure (at its nearest existing parent).
    type: path
  backup_dir:
    description: A folder of backups (M(agenta.fleet.backup)); RV(backups) lists those in it that hold a manifest.
    type: path
  files:
    description:
      - Paths on the host the run reads or writes (the compose file, the env file, the backup and state folders);
        RV(files) says of each whether it exists, what it is and whether the run could write it.
    type: list
    elements: path
    default: []
  manifest:
    description: A backup's C(manifest.json) to read (RV(manifest)).
    type: path
  newest_manifest:
    description:
      - Without O(manifest), read the C(manifest.json) of the newest backup in O(backup_dir) (RV(manifest)), the
        sub-folder named by its UTC time (C(YYYYMMDDTHHMMSSZ)) with the greatest name that holds one, links and other
        folders left out.
        The C(path) of RV(manifest) is empty when there is none.
    type: bool
    default: false
  run_journal:
    description: The host's run lock and journal (M(agenta.fleet.run_lock)) to read (RV(run_lock)).
    type: path
  health:
    description: Ask the API's health check from the host (RV(health)).
    type: bool
    default: false
  health_url:
    description: The health check's URL; empty takes C(http://127.0.0.1:<AGENTA_PORT of the env file, else 80>/api/health).
    type: str
    default: ""
  api_service:
    description: The Compose service of the API; when its container is not running, the health check is asked once.
    type: str
    default: api
  tag_variable:
    description:
      - The env file's variable that names the API image's tag. RV(api_image) compares it with the tag of the
        image the API container runs.
    type: str
    default: AGENTA_API_IMAGE_TAG
  chains:
    description:
      - Read the Alembic chains through the running API container (O(api_service)) in the same call, while the rest is
        read (RV(chains)), that is the revision of each chain, its heads in the image and what is pending, as
        M(agenta.fleet.alembic_migration_info) reads them in that container.
    type: bool
    default: false
  chains_tag:
    description:
      - With O(chains), read them with the image of this tag (the tag an upgrade goes to; the read is then that
        image's plan), in the API container when it runs that tag, else in a one-shot container of the API image's
        repository at this tag on the deployment's network (with O(env_file)), when the host has that image (it is
        not pulled). Empty reads them in the running API container, whatever its tag.
    type: str
    default: ""
  health_retries:
    description:
      - With O(health_delay), how long to keep asking until the answer is 200 (O(health_retries) times
        O(health_delay) seconds of waiting); 0 asks once.
      - The first asks come sooner (0.25, 0.25, 0.5, 0.5 and 1 s apart, never more than O(health_delay)), then
        every O(health_delay) seconds, so an API that has just started is seen as soon as it answers.
    type: int
    default: 0
  health_delay:
    description: The longest wait between two asks, in seconds.
    type: int
    default: 3
  docker_host:
    description: The Docker engine to talk to, as the Docker SDK for Python takes it.
    type: str
    default: unix:///var/run/docker.sock
  timeout:
    description: Seconds to wait for the Docker engine and for each psql call.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is no difference to show.
  idempotent:
    support: full
    description: It only reads.
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host.
requirements:
  - Docker SDK for Python (C(docker)) on the host the module runs on
notes:
  - Two execs of C(psql) at most, whatever the number of databases and tables (a C(connect) meta-command between them).
  - With O(chains), the driver reads them while the rest is read; its database sessions are named
    C(agenta-fleet read <host>), so that no pre-flight check of another host that shares the database takes them for
    a migration at work.
  - A one-shot container of O(chains_tag) keeps its compiled Python in the image's folder on the host
    (C(/var/cache/agenta-fleet/pycache/<image id>), outside check mode), for the migration that follows; see
    M(agenta.fleet.alembic_migration), option O(agenta.fleet.alembic_migration#module:image).
seealso:
  - module: agenta.fleet.alembic_migration_info
"""

EXAMPLES = r"""
- name: Read the deployment
  agenta.fleet.deployment_info:
    compose_project: agenta-oss-gh
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    space_at: /var/backups/agenta
  register: deployment

- name: Count every table of the core database
  agenta.fleet.deployment_info:
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    tables:
      agenta_oss_core: [projects, testsets]
  register: counted
"""

RETURN = r"""
engine:
  description: The Docker engine.
  returned: always
  type: dict
  sample: {version: "20.10.24+dfsg1"}
containers:
  description:
    - The project's containers (not one-off runs) by Compose service; a running one wins. Each has C(name),
      C(state), C(exit_code), C(image) and C(networks) (names). Nothing of a container's environment is read.
  returned: always
  type: dict
  sample: {api: {name: agenta-oss-gh-api-1, state: running, exit_code: 0, image: "agenta-api:v0.113.0",
                 networks: [agenta-oss-gh_default]}}
api_image:
  description:
    - The image the API container (O(api_service)) runs against the tag the env file names (O(tag_variable)).
  returned: always
  type: dict
  contains:
    image:
      description: The container's image reference; empty without a container.
      type: str
    tag:
      description: Its tag.
      type: str
    variable:
      description: O(tag_variable).
      type: str
    env_tag:
      description: The variable's value in the env file; empty when it is not set.
      type: str
    problem:
      description:
        - A sentence (without the host's name) when the two differ (a changed tag, or a changed
          C(AGENTA_API_IMAGE_NAME), that was never applied), else null.
      type: str
    put_back:
      description: What to put back to make the env file name the running image (C(VARIABLE back to value)), else null.
      type: str
  sample: {image: "ghcr.io/agenta-ai/agenta-api:v0.44.4", tag: v0.44.4, variable: AGENTA_API_IMAGE_TAG,
           env_tag: v0.44.4, problem: null, put_back: null}
oneshots:
  description: Names of running one-shot migration containers of this collection.
  returned: always
  type: list
  elements: str
  sample: []
env:
  description: The env file.
  returned: always
  type: dict
  contains:
    path:
      description: Its path.
      type: str
    exists:
      description: Whether it is a regular file.
      type: bool
    error:
      description: The parser's sentence when a line is not as Compose reads it (it names the line, never a value).
      type: str
    settings:
      description: Its variables; the value of each secret-looking name (password, secret, key, token, URI) is
        C(********).
      type: dict
    db_user:
      description: The database role that was used.
      type: str
    has_password:
      description: Whether a database password was found.
      type: bool
database:
  description: The database server, as the deployment's own psql sees it.
  returned: always
  type: dict
  contains:
    checked:
      description: Whether it was read (O(database)).
      type: bool
    answered:
      description: Whether psql answered.
      type: bool
    error:
      description: The first line of psql's complaint, or why psql could not run.
      type: str
    container:
      description: The postgres container.
      type: str
    version:
      description: The server's version.
      type: str
    databases:
      description: Every database with its size in bytes.
      type: list
      elements: dict
    selected:
      description: The Agenta databases (O(database_patterns)), with their sizes.
      type: list
      elements: dict
    size_bytes:
      description: Sum of the selected databases' sizes.
      type: int
    sessions:
      description: Sessions that hold an advisory lock or whose application name starts with C(agenta.fleet).
      type: list
      elements: dict
    measured:
      description: Per counted database, C(tables) (table -> rows) and C(versions) (version table -> revisions).
      type: dict
    row_counts:
      description: C(database.table) -> rows, for every counted table.
      type: dict
      sample: {agenta_oss_core.projects: 2}
backups:
  description: The backups in O(backup_dir) that hold a C(manifest.json), oldest first (by the manifest's time).
  returned: when O(backup_dir) is set
  type: list
  elements: str
  sample: [20261202T101500Z, 20261203T080000Z]
backup_dir_problem:
  description:
    - Why O(backup_dir) cannot hold the backups (not absolute or not normalised, a system folder, or holding files
      agenta.fleet did not write), as one sentence; null when it can.
  returned: when O(backup_dir) is set
  type: str
files:
  description:
    - Per path of O(files), C(exists), C(kind) (C(file), C(directory), C(other) or C(missing)), C(mount_point) (it is
      itself a mount point, so it cannot be replaced by a rename) and C(writable) (for a missing path, whether its
      nearest existing parent is); C(problem) is one sentence when the run could not write it, else null.
  returned: always
  type: dict
  sample: {/opt/agenta/.env: {exists: true, kind: file, mount_point: false, writable: true, problem: null}}
manifest:
  description:
    - The backup manifest of O(manifest) or O(newest_manifest) (C(path), C(exists), C(content) as parsed, C(error) when
      it is no JSON object).
  returned: when O(manifest) or O(newest_manifest) is set
  type: dict
  sample: {path: /var/backups/agenta/20261203T080000Z/manifest.json, exists: true, content: {name: 20261203T080000Z}, error: null}
run_lock:
  description:
    - The run lock of O(run_journal) (C(held), C(journal) of the run that holds it, C(age_seconds) since its last
      write, C(holder) naming that run in one clause) and C(last_run), the journal of the last run that finished.
  returned: when O(run_journal) is set
  type: dict
health:
  description: The health check (C(url), C(status) of the last answer or -1, C(error), C(tries)).
  returned: when O(health) is set
  type: dict
  sample: {url: "http://127.0.0.1:80/api/health", status: 200, error: null, tries: 1}
chains:
  description:
    - The Alembic chains as the image of O(chains_tag) (or the running API's) sees them (O(chains)); C(read) says
      whether they were read, C(reason) why not (no running API container, the image is not on the host),
      C(error) the driver's failure. When read, the keys of M(agenta.fleet.alembic_migration_info)'s result
      (C(layout), C(edition), C(chains), C(revisions), C(pending_total), C(summary), C(destructive), C(split),
      C(leftover), C(where)), with C(image) the image that read them and C(image_present) true.
  returned: when O(chains) is set
  type: dict
  sample: {read: true, error: null, layout: g1, revisions: {core: 1a0000000006}, pending_total: 0,
           image: "ghcr.io/agenta-ai/agenta-api:v0.44.4"}
space:
  description: Free space at O(space_at).
  returned: when O(space_at) is set
  type: dict
  sample: {path: /var/backups/agenta, measured: /var/backups, free_bytes: 51234234368}
"""

import json
import os
import re
import threading
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.urls import open_url

from ansible_collections.agenta.fleet.plugins.module_utils import backup_set, docker_access, run_journal
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import (
    EnvFileError, build_spec, mask, parse_env_file)
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_runner import (
    RunError, info_result, reader_label, run_driver)
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import (
    DeploymentError, api_image, counts_commands, db_login, first_line, flatten, health_waits, image_repo_of, image_tag_of,
    index_containers, nearest_existing_dir, parse_answers, psql_argv, public_settings, select_databases, server_sql)


def read_env(path):
    out = dict(path=path, exists=False, error=None, settings={})
    if not path:
        return out, {}
    if not os.path.isfile(path):
        return out, {}
    out["exists"] = True
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
        env = parse_env_file(text, path)
    except EnvFileError as exc:
        out["error"] = mask(str(exc))
        return out, {}
    except (IOError, OSError) as exc:
        out["error"] = "Could not read %s: %s." % (path, exc.strerror or exc)
        return out, {}
    out["settings"] = public_settings(env)
    return out, env


def list_backups(folder):
    """Names of the sub-folders of folder that hold a manifest.json, oldest manifest first."""
    found = []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for name in names:
        manifest = os.path.join(folder, name, "manifest.json")
        if name != "latest" and os.path.isfile(manifest):
            found.append((os.stat(manifest).st_mtime, name))
    return [name for _mtime, name in sorted(found)]


def newest_manifest(folder):
    """The manifest.json of the backup in folder with the greatest name (YYYYMMDDTHHMMSSZ) that holds one (links and
    other folders left out), or ""."""
    try:
        names = sorted(os.listdir(folder), reverse=True)
    except OSError:
        return ""
    for name in names:
        path = os.path.join(folder, name)
        if (backup_set.BACKUP_NAME.match(name) and not os.path.islink(path)
                and os.path.isfile(os.path.join(path, "manifest.json"))):
            return os.path.join(path, "manifest.json")
    return ""


def mount_points(path="/proc/self/mountinfo"):
    """Every mount point of this host's mount table (octal escapes undone)."""
    found = set()
    try:
        with open(path) as handle:
            for line in handle:
                fields = line.split(" ")
                if len(fields) > 4:
                    found.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    except (IOError, OSError):
        pass
    return found


def look_at(path, mounts):
    """What a run needs to know of a path it reads or writes."""
    out = dict(exists=os.path.lexists(path), kind="missing", mount_point=path in mounts, writable=False, problem=None)
    if out["exists"]:
        out["kind"] = "file" if os.path.isfile(path) else "directory" if os.path.isdir(path) else "other"
        out["writable"] = os.access(path, os.W_OK) and not (out["mount_point"] and out["kind"] == "file")
        if out["mount_point"] and out["kind"] == "file":
            out["problem"] = ("%s is a mount point of its own, so it cannot be replaced; mount its folder instead, or "
                              "copy it into place" % path)
        elif not os.access(path, os.W_OK):
            out["problem"] = "%s is not writable (read-only file system, permissions or attributes)" % path
    else:
        parent = nearest_existing_dir(os.path.dirname(path))
        out["writable"] = os.access(parent, os.W_OK)
        if not out["writable"]:
            out["problem"] = "%s cannot be created: %s is not writable" % (path, parent)
    return out


def read_manifest(path):
    out = dict(path=path, exists=bool(path) and os.path.isfile(path), content=None, error=None)
    if not out["exists"]:
        return out
    try:
        with open(path, "rb") as handle:
            content = json.loads(handle.read().decode("utf-8"))
    except (IOError, OSError, ValueError) as exc:
        out["error"] = "%s is not a JSON backup manifest (%s)" % (path, getattr(exc, "strerror", None) or exc)
        return out
    if not isinstance(content, dict):
        out["error"] = "%s is not a JSON object" % path
    else:
        out["content"] = content
    return out


def ask_health(url, retries, delay, timeout=10):
    out = dict(url=url, status=-1, error=None, tries=0)
    waits = health_waits(retries, delay)
    for attempt in range(len(waits) + 1):
        out["tries"] = attempt + 1
        try:
            response = open_url(url, method="GET", timeout=timeout, validate_certs=False, follow_redirects="safe")
            out.update(status=response.getcode(), error=None)
        except HTTPError as exc:
            out.update(status=exc.code, error=None)
        except Exception as exc:
            out.update(status=-1, error=first_line(str(getattr(exc, "reason", None) or exc)))
        if out["status"] == 200:
            break
        if attempt < len(waits):
            time.sleep(waits[attempt])
    return out


def list_containers(client, project):
    try:
        found = client.containers.list(all=True, filters={"label": "%s=%s" % (docker_access.PROJECT_LABEL, project)})
        oneshots = client.containers.list(filters={"label": docker_access.ONESHOT_LABEL})
    except Exception as exc:
        raise DeploymentError("Could not list the containers of compose project %s: %s."
                              % (project, docker_access._reason(exc)))
    items = []
    for container in found:
        labels = container.labels or {}
        if labels.get("com.docker.compose.oneoff", "False") == "True":
            continue
        state = container.attrs.get("State") or {}
        networks = sorted((container.attrs.get("NetworkSettings") or {}).get("Networks") or {})
        items.append(dict(service=labels.get(docker_access.SERVICE_LABEL), name=container.name,
                          state=container.status, exit_code=state.get("ExitCode"),
                          image=(container.attrs.get("Config") or {}).get("Image"), networks=networks))
    return index_containers(items), sorted(c.name for c in oneshots)


class ChainsRead(threading.Thread):
    """The Alembic chains, read by the migration driver as agenta.fleet.alembic_migration_info reads them: in the
    running API container, or in a one-shot container of another image (never pulled here), in a thread of its own
    while the module reads the rest. The driver's Docker client is its own: nothing is shared but the result."""

    def __init__(self, params, container=None, image=None, cache_create=False):
        super(ChainsRead, self).__init__()
        self.cache_create = cache_create
        self.daemon = True
        where = dict(docker_host=params["docker_host"], timeout=params["timeout"], python="python3", env={})
        if image:
            where.update(image=image, env_file=params["env_file"], compose_project=params["compose_project"])
        else:
            where.update(container=container["name"])
        self.where, self.image = where, image or container.get("image") or ""
        self.out = dict(read=False, reason=None, error="The chains were not read in time.")
        self.start()

    def run(self):
        try:
            if self.where.get("image"):
                client = docker_access.connect(self.where["docker_host"], self.where["timeout"])
                try:
                    present = docker_access.ensure_image(client, self.image, False)[0]
                finally:
                    client.close()
                if not present:
                    self.out = dict(read=False, error=None, reason="the image %s is not on this host" % self.image)
                    return
            # Hosts that share a database read at once: this read's session must not look like a migration to the
            # others' checks (it takes no lock and writes nothing in the database; outside check mode a one-shot
            # keeps its compiled Python for the migration, module_utils/pycache.py).
            result = run_driver(self.where, build_spec({}, "info", True, reader_label()), cache_create=self.cache_create)
            out = dict(read=True, reason=None, image=self.image, image_present=True, pulled=False, pull_error=None)
            out.update(info_result(result))
            out["error"] = result.get("error")
        except RunError as exc:
            out = dict(read=False, reason=None, error=exc.msg)
        except Exception as exc:  # pylint: disable=broad-except  # the caller judges a read that failed
            out = dict(read=False, reason=None, error=str(exc))
        self.out = out


def start_chains_read(params, containers, check_mode=True):
    """A ChainsRead, or (None, why the chains are not read). Without chains_tag, or when the API runs an image of
    that tag: in the running API container; else in a one-shot container of the API image's repository at that
    tag, when the host has it."""
    service = params["api_service"]
    api = containers.get(service)
    if api is None:
        return None, "no %s container" % service
    image = api.get("image") or ""
    if not params["chains_tag"] or image_tag_of(image) == params["chains_tag"]:
        if api.get("state") != "running":
            return None, "the %s container %s is %s" % (service, api.get("name"), api.get("state"))
        return ChainsRead(params, container=api), None
    if not params["env_file"]:
        return None, "a one-shot container of %s needs the env file" % params["chains_tag"]
    return ChainsRead(params, image="%s:%s" % (image_repo_of(image), params["chains_tag"]),
                      cache_create=not check_mode), None


def run_psql(client, container, user, password, commands, secrets):
    argv = psql_argv(user, commands)
    code, out, err = docker_access.exec_argv(client, container, argv, environment={"PGPASSWORD": password},
                                             purpose="psql")
    out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if code != 0:
        raise DeploymentError(mask(first_line(err), secrets))
    return parse_answers(out)


def read_database(params, client, containers, env):
    out = dict(checked=True, answered=False, error=None, container=None, version=None, databases=[], selected=[],
               size_bytes=0, sessions=[], measured={}, row_counts={}, versions={})
    postgres = containers.get(params["postgres_service"])
    if postgres is None:
        out["error"] = "compose project %s has no %s container" % (params["compose_project"], params["postgres_service"])
        return out
    out["container"] = postgres["name"]
    if postgres["state"] != "running":
        out["error"] = "container %s is %s" % (postgres["name"], postgres["state"])
        return out
    login = db_login(env)
    user = params["db_user"] or login["user"]
    password = params["db_password"] or login["password"]
    secrets = dict(env, DB_PASSWORD=password)
    try:
        container = docker_access.find_container(client, name=postgres["name"])
        server = run_psql(client, container, user, password, [server_sql()], secrets).get("server")
        if server is None:
            raise DeploymentError("psql gave no answer")
        out.update(answered=True, version=server.get("version"), databases=server.get("databases") or [],
                   sessions=server.get("sessions") or [])
        out["selected"] = select_databases(out["databases"], params["database_patterns"])
        out["size_bytes"] = sum(int(d.get("size") or 0) for d in out["selected"])
        tables = params["tables"]
        wanted = params["databases"]
        if params["count_rows"] or tables is not None or wanted is not None:
            present = set(d["name"] for d in out["databases"])
            if tables is not None:
                names = sorted(n for n in tables if n in present)
            elif wanted is not None:
                names = [n for n in wanted if n in present]
            else:
                names = [d["name"] for d in out["selected"]]
            if names:
                answers = run_psql(client, container, user, password, counts_commands(names, tables), secrets)
                measured = dict((n, answers.get("db:" + n) or {"tables": {}, "versions": {}}) for n in names)
                out["measured"] = measured
                out["row_counts"], out["versions"] = flatten(measured)
    except (DeploymentError, docker_access.DockerAccessError) as exc:
        out["error"] = str(exc)
    return out


def read_rest(params, client, containers, oneshots, env, env_out, version):
    """Everything but the chains. Return (result, failure): failure is the sentence of a database read that failed
    outright, else None."""
    login = db_login(env)
    env_out["db_user"] = params["db_user"] or login["user"]
    env_out["has_password"] = bool(params["db_password"] or login["password"])
    result = dict(changed=False, engine=dict(version=version), containers=containers, oneshots=oneshots, env=env_out,
                  api_image=api_image(containers, params["api_service"], env_out.get("settings"),
                                      params["tag_variable"]))
    if params["database"]:
        try:
            result["database"] = read_database(params, client, containers, env)
        except DeploymentError as exc:
            return result, str(exc)
    else:
        result["database"] = dict(checked=False, answered=False, error=None, databases=[], selected=[], size_bytes=0,
                                  sessions=[], measured={}, row_counts={}, versions={})
    if params["backup_dir"]:
        result["backups"] = list_backups(params["backup_dir"])
        try:
            backup_set.check_backup_dir(params["backup_dir"])
            result["backup_dir_problem"] = None
        except DeploymentError as exc:
            result["backup_dir_problem"] = str(exc)
    mounts = mount_points() if params["files"] else set()
    result["files"] = dict((path, look_at(path, mounts)) for path in params["files"])
    if params["manifest"]:
        result["manifest"] = read_manifest(params["manifest"])
    elif params["newest_manifest"] and params["backup_dir"]:
        result["manifest"] = read_manifest(newest_manifest(params["backup_dir"]))
    if params["run_journal"]:
        journal = run_journal.read(params["run_journal"])
        last = run_journal.read(os.path.join(os.path.dirname(params["run_journal"]), run_journal.LAST_NAME))
        result["run_lock"] = dict(held=bool(journal), journal=journal or None, age_seconds=run_journal.age_seconds(journal),
                                  holder=run_journal.describe(journal) if journal else "", last_run=last or None)
    if params["health"]:
        url = params["health_url"] or "http://127.0.0.1:%s/api/health" % (env.get("AGENTA_PORT") or "80")
        # A stopped API container will not start answering: ask once, and let the caller name the container.
        api_up = (containers.get(params["api_service"]) or {}).get("state") == "running"
        retries = max(params["health_retries"], 0) if api_up else 0
        result["health"] = ask_health(url, retries, max(params["health_delay"], 0))
    if params["space_at"]:
        measured = nearest_existing_dir(params["space_at"])
        stat = os.statvfs(measured)
        result["space"] = dict(path=params["space_at"], measured=measured, free_bytes=stat.f_bavail * stat.f_frsize)
    return result, None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            compose_project=dict(type="str", default="agenta-oss-gh"),
            postgres_service=dict(type="str", default="postgres"),
            env_file=dict(type="path"),
            db_user=dict(type="str", default=""),
            db_password=dict(type="str", default="", no_log=True),
            database=dict(type="bool", default=True),
            database_patterns=dict(type="list", elements="str", default=["agenta_%", "supertokens_%"]),
            count_rows=dict(type="bool", default=False),
            databases=dict(type="list", elements="str"),
            tables=dict(type="dict"),
            space_at=dict(type="path"),
            backup_dir=dict(type="path"),
            files=dict(type="list", elements="path", default=[]),
            manifest=dict(type="path"),
            newest_manifest=dict(type="bool", default=False),
            run_journal=dict(type="path"),
            health=dict(type="bool", default=False),
            health_url=dict(type="str", default=""),
            api_service=dict(type="str", default="api"),
            tag_variable=dict(type="str", default="AGENTA_API_IMAGE_TAG"),
            chains=dict(type="bool", default=False),
            chains_tag=dict(type="str", default=""),
            health_retries=dict(type="int", default=0),
            health_delay=dict(type="int", default=3),
            docker_host=dict(type="str", default=docker_access.DEFAULT_DOCKER_HOST),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not docker_access.HAS_DOCKER:
        module.fail_json(msg="The Docker SDK for Python is missing on this host; install python3-docker "
                             "(or pip install docker).", exception=docker_access.DOCKER_IMPORT_ERROR)
    if params["tables"] is not None:
        bad = [k for k, v in params["tables"].items() if not isinstance(v, list)]
        if bad:
            module.fail_json(msg="tables must map each database to a list of tables; %s does not." % bad[0])
    if params["timeout"] < 1:
        module.fail_json(msg="timeout must be a whole number of seconds from 1, not %s." % params["timeout"])

    env_out, env = read_env(params["env_file"])
    try:
        client = docker_access.connect(params["docker_host"], params["timeout"])
    except docker_access.DockerAccessError as exc:
        module.fail_json(msg=str(exc), env=env_out)
    try:
        version = client.version().get("Version")
        containers, oneshots = list_containers(client, params["compose_project"])
    except DeploymentError as exc:
        module.fail_json(msg=str(exc), env=env_out)
    except Exception as exc:
        module.fail_json(msg="Could not ask the Docker engine for its version: %s." % docker_access._reason(exc))

    # The chains are read while the rest is (their session is named so that no database read takes it for a migration).
    chains, not_read = start_chains_read(params, containers, module.check_mode) if params["chains"] else (None, None)
    try:
        result, failure = read_rest(params, client, containers, oneshots, env, env_out, version)
    finally:
        # A one-shot container of the chains read is removed by its thread (which gives up after the timeout): the
        # module does not end before it.
        if chains is not None:
            chains.join(2 * params["timeout"] + 30)
    if failure is not None:
        module.fail_json(msg=failure, **result)
    if chains is not None:
        result["chains"] = chains.out
    elif params["chains"]:
        result["chains"] = dict(read=False, reason=not_read, error=None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
