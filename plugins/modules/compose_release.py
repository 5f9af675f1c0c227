#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: compose_release
short_description: Plan and install the compose file of the Agenta release a host upgrades to
version_added: 0.1.0
description:
  - Agenta's compose file changes between releases (v0.113.0 renamed every worker of v0.103.5) and its image tags
    default to C(latest). This module compares the release's compose file (O(content), read on the controller)
    with the deployment on the host, in one call.
  - The release's file is validated first with the host's own C(docker compose config), with the deployment's env
    file and project folder, from a private temporary folder; a file that does not validate fails the module and
    changes nothing.
  - The plan names the services the release adds and removes, the containers of removed services, the env
    variables that pin Agenta's images to O(tag) (a C(${VAR:-latest}) tag of an image under O(image_prefix)),
    images that still float on C(latest), settings of the release's env example the env file lacks, and
    containers of the project that neither file names (left alone, unlike C(up --remove-orphans)).
  - With O(state=present) it writes the file in place (atomically, keeping its mode and owner), stops and removes
    the containers of the services the release removed, and writes the pins into the env file. It starts
    nothing; the caller runs C(docker compose up -d).
  - The env file is parsed inside the module; only the values of the pinned variables (image tags) are returned.
  - A release that moves PostgreSQL to another major version (Agenta's compose went from C(postgres:16) to
    C(postgres:17) at v0.94.6) is refused with one sentence, before anything changes, unless O(postgres_move)
    allows it; one whose PostgreSQL keeps its data outside its volumes (PostgreSQL 18 images use
    C(/var/lib/postgresql/18/docker)) is always refused.
author:
  - Agenta fleet maintainers (@agenta-fleet)
extends_documentation_fragment:
  - agenta.fleet.compose_deployment
options:
  content:
    description: The release's compose file (Agenta's C(hosting/docker-compose/oss/docker-compose.gh.yml) at the target tag).
    type: str
    required: true
  env_example:
    description: The release's env example (C(env.oss.gh.example)); its setting names the env file lacks are reported.
    type: str
    default: ""
  tag:
    description: The release's image tag; the tag variables of Agenta's images are pinned to it. Empty pins nothing.
    type: str
    default: ""
  image_prefix:
    description: Images whose reference starts with this are Agenta's, and are pinned to O(tag).
    type: str
    default: ghcr.io/agenta-ai/
  state:
    description:
      - V(planned) validates and reports, and changes nothing.
      - V(present) also installs the file, removes the containers of removed services and writes the pins.
    type: str
    choices: [planned, present]
    default: present
  stop_timeout:
    description: Seconds a container of a removed service gets to stop before it is killed.
    type: int
    default: 10
  postgres_service:
    description:
      - The Compose service of PostgreSQL. When the release changes its image, the image's major version (its
        C(PG_MAJOR), else C(postgres --version) in a one-shot container) is compared with C(PG_VERSION) of the
        cluster in the data volume, and its data folder (C(PGDATA)) must be on one of its volumes; a release that
        would start PostgreSQL on a cluster of another major, or on an empty folder, is refused.
    type: str
    default: postgres
  postgres_move:
    description:
      - Allow a release whose PostgreSQL is another major than the cluster in the data volume; C(move) in RV(postgres)
        then says so, and the caller moves the data (M(agenta.fleet.postgres_move), a restore of the backup's dumps).
        The file is installed by this module as with any release; nothing here moves data.
    type: bool
    default: false
requirements:
  - Docker SDK for Python (C(docker)) and the C(docker compose) plugin on the host.
attributes:
  check_mode:
    support: full
    description: Validates and returns the plan; writes and removes nothing.
  diff_mode:
    support: full
    description: The compose file before and after, and the pinned lines of the env file.
  idempotent:
    support: full
    description: A second call with the same file reports no change.
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host.
seealso:
  - module: agenta.fleet.deployment_info
  - module: agenta.fleet.database_backup
notes:
  - The deployment's current compose file is kept by M(agenta.fleet.database_backup) and put back by the restore.
"""

EXAMPLES = r"""
- name: Plan the compose file of v0.113.0
  agenta.fleet.compose_release:
    content: "{{ lookup('ansible.builtin.file', 'releases/v0.113.0/docker-compose.gh.yml') }}"
    env_example: "{{ lookup('ansible.builtin.file', 'releases/v0.113.0/env.oss.gh.example') }}"
    tag: v0.113.0
    state: planned
  register: compose_plan

- name: Install it
  agenta.fleet.compose_release:
    content: "{{ lookup('ansible.builtin.file', 'releases/v0.113.0/docker-compose.gh.yml') }}"
    tag: v0.113.0
"""

RETURN = r"""
summary:
  description: One sentence naming what the release's file changes.
  returned: always
  type: str
  sample: Adds service(s) runner, worker-queues; removes service(s) worker-events (1 container(s) to stop and remove).
would_change:
  description: Whether O(state=present) changes the host (the file, a pin or a container to remove).
  returned: always
  type: bool
compose_changed:
  description: Whether the release's file differs from the deployment's.
  returned: always
  type: bool
services:
  description: The services of the release's file.
  returned: always
  type: list
  elements: str
services_before:
  description: The services of the deployment's file (empty when it does not read).
  returned: always
  type: list
  elements: str
added:
  description: Services the release adds.
  returned: always
  type: list
  elements: str
removed:
  description: Services of the deployment's file that the release no longer has and that have containers.
  returned: always
  type: list
  elements: str
remove_containers:
  description: The containers of RV(removed), stopped and removed with O(state=present).
  returned: always
  type: list
  elements: str
other_orphans:
  description: Services with containers in the project that neither file names; left alone.
  returned: always
  type: list
  elements: str
oneshot:
  description: Services others wait on to complete (the migration's C(alembic)); they do not keep running.
  returned: always
  type: list
  elements: str
long_running:
  description: The release's services that should be running after C(up -d) (RV(services) without RV(oneshot)).
  returned: always
  type: list
  elements: str
pins:
  description: Env variable -> C(before) and C(after) tag, for Agenta images whose tag variable is not O(tag) yet.
  returned: always
  type: dict
floating:
  description: Services whose image still floats on C(latest) (or has no tag) after the pins.
  returned: always
  type: list
  elements: str
postgres:
  description:
    - What was checked of PostgreSQL (C(image_before), C(image_after), C(data_major), C(image_major), C(pgdata),
      C(mounts), C(volume), C(volume_type) (V(volume) or V(bind)), and C(move), true when the release's major differs from the cluster's, allowed by
      O(postgres_move)); null when the host runs no PostgreSQL of the project or the release has none.
  returned: always
  type: dict
env_missing:
  description: Setting names of O(env_example) that the env file does not set.
  returned: always
  type: list
  elements: str
"""

import hashlib
import json
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import compose_release as logic
from ansible_collections.agenta.fleet.plugins.module_utils import docker_access
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import EnvFileError, parse_env_file
from ansible_collections.agenta.fleet.plugins.module_utils.compose_release import write_atomic
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import scrub


DEFAULT_PGDATA = "/var/lib/postgresql/data"


def compose(module, p, compose_file, *args):
    # Every profile: a service behind one (Agenta's `web` is behind with-web) is planned and pinned like the others.
    argv = ["docker", "compose", "-p", p["compose_project"], "--project-directory", p["compose_dir"],
            "-f", compose_file, "--env-file", p["env_file"], "--profile", "*"] + list(args)
    return module.run_command(argv, cwd=p["compose_dir"])


def project_containers(client, project):
    """The project's service containers by service (one-off and migration containers left out)."""
    found = docker_access.project_containers(client, project)
    by_service = {}
    for container in found:
        labels = container.labels or {}
        if labels.get("com.docker.compose.oneoff", "False") == "True" or docker_access.ONESHOT_LABEL in labels:
            continue
        by_service.setdefault(labels.get(docker_access.SERVICE_LABEL) or "?", []).append(container)
    return by_service


def env_of(attrs):
    """KEY -> value of a container's or image's Config.Env (the caller keeps only what it needs)."""
    return dict(e.split("=", 1) for e in (attrs.get("Config") or {}).get("Env") or [] if "=" in e)


def data_major(container, pgdata):
    """(major of the cluster at pgdata in the container's mounts or None, the data volume's name or the bind mount's
    path, the mount's type: volume or bind)."""
    for mount in container.attrs.get("Mounts") or []:
        dest = (mount.get("Destination") or "").rstrip("/")
        if dest and (pgdata == dest or pgdata.startswith(dest + "/")):
            volume = mount.get("Name") or mount.get("Source") or dest
            kind = mount.get("Type") or "volume"
            try:
                with open(os.path.join(mount.get("Source") or "", pgdata[len(dest):].lstrip("/"), "PG_VERSION")) as handle:
                    return int(handle.read().strip().split(".")[0]), volume, kind
            except (OSError, ValueError):
                pass
            if container.status == "running":
                code, out = container.exec_run(["cat", pgdata.rstrip("/") + "/PG_VERSION"])
                if code == 0 and out.strip().isdigit():
                    return int(out.strip()), volume, kind
            return None, volume, kind
    return None, "", ""


def postgres_check(client, containers, new_config, service, check_mode=False):
    """The facts agenta.fleet.compose_release checks about PostgreSQL (module_utils postgres_problem). A new image
    that is not on the host is pulled first (not in check mode, where the plan says it would be)."""
    spec = (new_config.get("services") or {}).get(service)
    current = [c for c in containers.get(service, []) if c.status in ("running", "exited", "created")]
    if not spec or not current:
        return None
    container = current[0]
    before = (container.attrs.get("Config") or {}).get("Image") or ""
    after = spec.get("image") or ""
    major, volume, kind = data_major(container, env_of(container.attrs).get("PGDATA") or DEFAULT_PGDATA)
    found = dict(service=service, image_before=before, image_after=after, data_major=major, volume=volume,
                 volume_type=kind,
                 image_present=True, image_major=None, pgdata="", mounts=logic.data_mounts(spec.get("volumes")))
    if not after:
        return found
    try:
        image_env = env_of(client.images.get(after).attrs)
    except docker_access.docker_errors.ImageNotFound:
        image_env = None
    except Exception as exc:
        raise docker_access.DockerAccessError("Could not inspect image %s: %s." % (after, docker_access._reason(exc)))
    if image_env is None and not check_mode:
        try:
            image_env = env_of(client.images.pull(after).attrs)
        except Exception:
            image_env = None
    if image_env is None:
        found["image_present"] = False
        found["check_mode"] = check_mode
        return found
    environment = spec.get("environment") or {}
    found["pgdata"] = (environment.get("PGDATA") if isinstance(environment, dict) else None) or image_env.get(
        "PGDATA") or DEFAULT_PGDATA
    if before == after:
        found["image_major"] = major
    elif str(image_env.get("PG_MAJOR", "")).isdigit():
        found["image_major"] = int(image_env["PG_MAJOR"])
    else:
        code, out, err = docker_access.run_oneshot(client, after, ["postgres", "--version"], timeout=120,
                                                   purpose="postgres --version", name_prefix="agenta-fleet-pgversion")
        found["image_major"] = logic.postgres_major((out or b"").decode("utf-8", "replace")) if code == 0 else None
    return found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            content=dict(type="str", required=True),
            env_example=dict(type="str", default=""),
            compose_dir=dict(type="path", default="/opt/agenta/hosting/docker-compose/oss"),
            compose_file=dict(type="path"),
            env_file=dict(type="path"),
            compose_project=dict(type="str", default="agenta-oss-gh"),
            tag=dict(type="str", default=""),
            image_prefix=dict(type="str", default="ghcr.io/agenta-ai/"),
            state=dict(type="str", choices=["planned", "present"], default="present"),
            stop_timeout=dict(type="int", default=10),
            postgres_service=dict(type="str", default="postgres"),
            postgres_move=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = dict(module.params)
    p["compose_file"] = p["compose_file"] or os.path.join(p["compose_dir"], "docker-compose.gh.yml")
    p["env_file"] = p["env_file"] or os.path.join(p["compose_dir"], ".env.oss.gh")
    if not p["content"].strip():
        module.fail_json(msg="The release's compose file (content) is empty; point agenta_release_dir at the "
                             "folder of the release's docker-compose.gh.yml.")
    for what, path in (("compose folder", p["compose_dir"]), ("env file", p["env_file"])):
        if not os.path.exists(path):
            module.fail_json(msg="The %s %s does not exist on this host; check agenta_compose_dir and "
                                 "agenta_env_file." % (what, path))
    try:
        with open(p["env_file"], "r", encoding="utf-8") as handle:
            env_text = handle.read()
        env = parse_env_file(env_text, p["env_file"])
        example_keys = list(parse_env_file(p["env_example"], "the release's env example")) if p["env_example"] else []
    except (EnvFileError, UnicodeDecodeError) as exc:
        module.fail_json(msg=str(exc))
    new_bytes = p["content"].encode("utf-8")
    if not new_bytes.endswith(b"\n"):
        new_bytes += b"\n"
    try:
        with open(p["compose_file"], "rb") as handle:
            old_bytes = handle.read()
    except FileNotFoundError:
        old_bytes = b""

    # The release's file is read by the host's own Compose, with the deployment's env file and folder.
    staging = tempfile.mkdtemp(prefix="agenta-fleet-release-")
    try:
        staged = os.path.join(staging, "docker-compose.yml")
        with open(staged, "wb") as handle:
            handle.write(new_bytes)
        rc, out, err = compose(module, p, staged, "config", "--format", "json")
        if rc != 0:
            lines = (err or out or "no output").strip().splitlines() or ["no output"]
            module.fail_json(msg="The release's compose file does not validate with %s on this host (docker compose "
                                 "config: %s); fix the release folder (agenta_release_dir) or the env file. Nothing "
                                 "was changed." % (p["env_file"], scrub(lines[-1], env)))
        try:
            new_config = json.loads(out)
            rc, out, err = compose(module, p, staged, "config", "--no-interpolate", "--format", "json")
            raw_config = json.loads(out) if rc == 0 else {}
        except ValueError:
            module.fail_json(msg="docker compose config on this host did not print JSON for the release's compose "
                                 "file; the collection needs Compose v2.17 or later (docker compose version). "
                                 "Nothing was changed.")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    old_services = []
    if old_bytes:
        rc, out, err = compose(module, p, p["compose_file"], "config", "--services")
        old_services = out.split() if rc == 0 else []

    if not docker_access.HAS_DOCKER:
        module.fail_json(msg="The Docker SDK for Python (docker) is not installed on %s; install it (pip install "
                             "docker, or python3-docker) and run again." % os.uname()[1],
                         exception=docker_access.DOCKER_IMPORT_ERROR)
    try:
        client = docker_access.connect()
        containers = project_containers(client, p["compose_project"])
        pg = postgres_check(client, containers, new_config, p["postgres_service"], module.check_mode)
    except docker_access.DockerAccessError as exc:
        module.fail_json(msg=str(exc))
    existing = dict((s, sorted(c.name for c in cs)) for s, cs in containers.items())
    found = logic.plan(old_services, new_config, raw_config, existing, env, example_keys, p["tag"], p["image_prefix"])
    compose_changed = hashlib.sha256(old_bytes).hexdigest() != hashlib.sha256(new_bytes).hexdigest()
    problem = logic.postgres_problem(pg, p["postgres_move"]) if pg else ""
    if problem:
        module.fail_json(msg=problem, postgres=pg)
    if pg:
        pg["move"] = logic.postgres_moves(pg)
    result = dict(changed=False, compose_changed=compose_changed, postgres=pg,
                  long_running=[s for s in found["services"] if s not in found["oneshot"]],
                  summary=logic.summary(found, compose_changed, p["tag"], pg), **found)
    result["would_change"] = bool(compose_changed or found["pins"] or found["remove_containers"])
    result["changed"] = p["state"] == "present" and result["would_change"]
    if module._diff and result["changed"]:
        pinned = dict((k, v["after"]) for k, v in found["pins"].items())
        before_pins = "".join("%s=%s\n" % (k, v["before"]) for k, v in sorted(found["pins"].items()))
        result["diff"] = [
            dict(before_header=p["compose_file"], after_header=p["compose_file"] + " (release)",
                 before=old_bytes.decode("utf-8", "replace"), after=new_bytes.decode("utf-8", "replace")),
            dict(before_header=p["env_file"] + " (pinned lines)", after_header=p["env_file"] + " (pinned lines)",
                 before=before_pins, after="".join("%s=%s\n" % kv for kv in sorted(pinned.items()))),
        ]
    if p["state"] == "planned" or module.check_mode or not result["changed"]:
        module.exit_json(**result)

    # Install: the containers of removed services go first (their service is gone from the new file, so Compose
    # would only warn about them as orphans), then the file, then the pins.
    try:
        for service in found["removed"]:
            for container in containers.get(service, []):
                container.stop(timeout=p["stop_timeout"])
                container.remove()
    except Exception as exc:
        module.fail_json(msg="Could not stop and remove the containers of service(s) %s that the release removes: "
                             "%s. The compose file was not changed." % (", ".join(found["removed"]),
                                                                        docker_access._reason(exc)), **result)
    try:
        if compose_changed:
            write_atomic(p["compose_file"], new_bytes)
        if found["pins"]:
            pinned = dict((k, v["after"]) for k, v in found["pins"].items())
            write_atomic(p["env_file"], logic.write_pins(env_text, pinned).encode("utf-8"), default_mode=0o600)
    except (OSError, ValueError) as exc:
        module.fail_json(msg="Could not write %s: %s; check that the compose folder and the env file are writable."
                             % (getattr(exc, "filename", None) or p["compose_file"], exc.strerror
                                if isinstance(exc, OSError) else exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
