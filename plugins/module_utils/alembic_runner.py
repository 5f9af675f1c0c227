# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue shared by alembic_migration and alembic_migration_info: where to run, one driver run, parse."""

from __future__ import annotations

import json
import socket

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access, progress, pycache
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import (
    DEFAULT_CONTAINER, EnvFileError, MIGRATIONS_DIR, info_summary, last_line, mask, parse_driver_output,
    parse_env_file, pending_total, split_progress)
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_driver import DRIVER, SPEC_ENV


def location_argument_spec():
    """Options of the agenta.fleet.docker_target doc fragment."""
    return dict(
        container=dict(type="str", default=DEFAULT_CONTAINER),
        compose_project=dict(type="str"),
        compose_service=dict(type="str"),
        image=dict(type="str"),
        network=dict(type="str"),
        env_file=dict(type="path"),
        env=dict(type="dict", default={}),
        python=dict(type="str", default="python3"),
        docker_host=dict(type="str", default=docker_access.DEFAULT_DOCKER_HOST),
        timeout=dict(type="int", default=600),
    )


class RunError(Exception):
    def __init__(self, msg, **extra):
        Exception.__init__(self, msg)
        self.msg = msg
        self.extra = extra


def holder_label():
    return "agenta.fleet.alembic_migration %s" % socket.gethostname()[:16]


def reader_label():
    """The database sessions' name of a read that runs beside other hosts' pre-flight checks
    (agenta.fleet.deployment_info's chains): not agenta.fleet..., which those checks take for a migration at work."""
    return "agenta-fleet read %s" % socket.gethostname()[:16]


def require_docker(module):
    if not docker_access.HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker (the Docker SDK for Python)"),
                         exception=docker_access.DOCKER_IMPORT_ERROR)


def progress_watch(note):
    """A run_oneshot watch that notes the driver's last progress line (chain, revisions applied of pending) in the
    run journal through note(**fields), only when it changed."""
    def read(container):
        _rest, last = split_progress(container.logs(stdout=False, stderr=True, tail=20))
        if last is None:
            return None
        return dict(step="migrating", chain=last.get("chain"), applied=last.get("applied"), of=last.get("of"))
    return progress.changes_watch(note, read)


def cache_for(client, image, create):
    """The pycache folder of image on this host to mount in its one-shot: ({host path: bind}, environment) or
    ({}, {}) without one (module_utils/pycache.py)."""
    try:
        found = client.images.get(image)
    except Exception:  # pylint: disable=broad-except  # run_oneshot says what is wrong with the image
        return {}, {}
    cache = pycache.folder(found.id, (found.attrs.get("Config") or {}).get("User"), create)
    if cache is None:
        return {}, {}
    return {cache[0]: {"bind": pycache.INSIDE, "mode": cache[1]}}, dict(pycache.ENV)


def run_driver(params, spec, note=None, cache_create=False):
    """Run the driver once (exec or one-shot). Return (result dict, where). note(**fields), when given, notes the
    one-shot's progress in the run journal while it runs. A one-shot keeps its compiled Python in the image's
    pycache folder on the host, which it makes only with cache_create (not in check mode); an exec in a container
    whose Python writes no bytecode (PYTHONDONTWRITEBYTECODE, as in Agenta's images) keeps it in the container's
    /tmp."""
    client = docker_access.connect(params.get("docker_host"), params.get("timeout") or 600)
    try:
        extra_env = dict((str(k), "" if v is None else str(v)) for k, v in (params.get("env") or {}).items())
        environment = {"PYTHONPATH": "/app"}
        argv = [params.get("python") or "python3", "-c", DRIVER]
        if params.get("image"):
            env = {}
            if params.get("env_file"):
                path = params["env_file"]
                try:
                    with open(path, "r") as handle:
                        env = parse_env_file(handle.read(), path)
                except (IOError, OSError) as exc:
                    raise RunError("Could not read env_file %s: %s." % (path, exc.strerror or exc))
                except EnvFileError as exc:
                    raise RunError(str(exc))
            env.update(extra_env)
            env.update(environment)
            env[SPEC_ENV] = json.dumps(spec)
            cache_volumes, cache_env = cache_for(client, params["image"], cache_create)
            env.update(cache_env)
            network = params.get("network")
            if not network and params.get("compose_project"):
                network = "%s_default" % params["compose_project"]
            if not network:
                existing = docker_access.container_exists(client, params.get("container"))
                network = docker_access.network_of(existing) if existing is not None else None
            if not network:
                raise RunError("Set network (or compose_project) so the one-shot container of %s can reach "
                               "the deployment's database." % params["image"])
            code, out, err = docker_access.run_oneshot(
                client, params["image"], argv, environment=env, network=network, workdir=MIGRATIONS_DIR,
                timeout=params.get("timeout") or 600,
                timeout_setting="the timeout (migrate_timeout in the playbooks, default 1800)",
                watch=progress_watch(note) if note is not None else None, volumes=cache_volumes or None)
            where = "a one-shot container of %s on network %s" % (params["image"], network)
            secrets = env
        else:
            container = docker_access.find_container(
                client, params.get("container"), params.get("compose_project"), params.get("compose_service"))
            env = dict(extra_env)
            env.update(environment)
            if pycache.bytecode_off((container.attrs.get("Config") or {}).get("Env")):
                env.update(pycache.ENV)
            env[SPEC_ENV] = json.dumps(spec)
            code, out, err = docker_access.exec_argv(client, container, argv, environment=env, workdir=MIGRATIONS_DIR)
            where = "container %s" % container.name
            secrets = extra_env
    finally:
        try:
            client.close()
        except Exception:
            pass
    err = split_progress(err)[0]
    result = parse_driver_output(out)
    if result is None:
        reason = mask(last_line(err) or last_line(out) or "no output", secrets)
        raise RunError("The migration driver in %s exited with code %s without a result: %s"
                       % (where, code, reason.rstrip(".") + "."), stderr=mask(_text(err), secrets))
    # Belt and braces: mask again with what we know on this side.
    for entry in list(result.get("chains") or []) + [result.get("runner") or {}]:
        if "output" in entry:
            entry["output"] = mask(entry.get("output") or "", secrets)
    if result.get("error"):
        result["error"] = mask(result["error"], secrets)
    result["where"] = where
    return result


def split_sentence(split):
    """The split a G1 deployment needs before this image's chains, in one sentence."""
    parts = ["%s becomes %s" % (e["from"], e["database"]) if e.get("from") else "%s is created" % e["database"]
             for e in split]
    if not any(e.get("from") for e in split):
        return ("The split of Agenta v0.45 was cut short (%s): planned here as if it had run." % ", ".join(parts))
    return ("The databases still have the names of Agenta v0.44 and older: the split of Agenta v0.45 is pending "
            "(%s), planned here as if it had run." % ", ".join(parts))


def info_result(result):
    """The driver's info result as agenta.fleet.alembic_migration_info returns it (and agenta.fleet.deployment_info's
    chains): layout, edition, where, chains (name, config, version_table, current, heads, pending, note),
    revisions, pending_total, summary, destructive, split, leftover."""
    chains = []
    for chain in result.get("chains") or []:
        pending = chain.get("pending")
        note = chain.get("note")
        if pending == [] and len(chain.get("heads") or []) > 1:
            pending, note = None, "the chain has %d heads" % len(chain["heads"])
        chains.append(dict(name=chain["name"], config=chain.get("config"), version_table=chain.get("version_table"),
                           current=chain.get("before"), heads=chain.get("heads") or [], pending=pending, note=note))
    unknown = dict((chain["name"], chain.get("unknown") or []) for chain in result.get("chains") or [])
    summary = info_summary([dict(chain, unknown=unknown.get(chain["name"])) for chain in chains])
    split = result.get("split") or []
    if split:
        summary = split_sentence(split) + " " + summary
    return dict(layout=result.get("layout"), edition=result.get("edition"), where=result.get("where"),
                chains=chains, revisions=dict((c["name"], c["current"] or "base") for c in chains),
                pending_total=pending_total(chains), summary=summary, destructive=result.get("destructive") or [],
                split=split, leftover=result.get("leftover"))


def _text(data):
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""
