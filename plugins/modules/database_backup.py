#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: database_backup
short_description: Take a verified backup of an Agenta deployment's databases in one call
version_added: 0.1.0
description:
  - Checks that O(backup_dir) is a folder of its own (absolute, normalised, not a system folder, holding nothing
    the collection did not write) before anything is created, then writes the backup C(<backup_dir>/<name>/).
  - Counts the rows of every table and reads every Alembic version table, then dumps every database with
    C(pg_dump) and lists each dump back with C(pg_restore --list), all in one one-shot container of the
    deployment's PostgreSQL image on its network (umask 077, so files 0600 and folders 0700, owned by root).
  - The rows are counted in the very snapshot C(pg_dump) dumps (a repeatable-read transaction exports it, counts,
    and C(pg_dump --snapshot) dumps it), so the manifest's counts are those of the dump even while the API writes,
    and a restore or a trial restore finds exactly them.
  - Copies the env file (0600), computes the SHA-256 of every file, optionally restores every dump into a scratch
    database C(agenta_fleet_trial_<db>) and compares it with the source (the scratch databases are always
    dropped), then writes C(manifest.json) last, points C(latest) at the backup and removes the backups of this
    collection past the newest O(keep).
  - The login is read from the env file inside the module. The password goes into the environment of the exec or
    the one-shot container through the Docker API, never into an argument, a task's C(environment) or the result.
  - Any failure removes the unfinished backup folder and names the step that failed.
author:
  - Agenta fleet maintainers (@agenta-fleet)
extends_documentation_fragment:
  - agenta.fleet.postgres_target
options:
  backup_dir:
    description:
      - The folder of the backups, dedicated to them. Refused when it is not absolute or not normalised, when it is
        a system folder (or a link to one), or when it holds files that agenta.fleet did not write.
    type: path
    required: true
  name:
    description: The backup's name, C(YYYYMMDDTHHMMSSZ); empty takes the current UTC time.
    type: str
    default: ""
  databases:
    description: The databases to back up, in order; omitted, those of the server that match O(database_patterns).
    type: list
    elements: str
  database_patterns:
    description: SQL C(LIKE) patterns of the Agenta databases, used when O(databases) is omitted.
    type: list
    elements: str
    default: [agenta_%, supertokens_%]
  format:
    description: V(custom) (C(pg_dump -Fc), one file C(<db>.dump)) or V(directory) (C(pg_dump -Fd), a folder C(<db>.dir)).
    type: str
    choices: [custom, directory]
    default: custom
  jobs:
    description: Parallel jobs of C(pg_dump -Fd) and C(pg_restore); only with O(format=directory).
    type: int
    default: 2
  keep:
    description: How many backups of this collection to keep in O(backup_dir), this one included.
    type: int
    default: 5
  trial_restore:
    description: Restore every dump into a scratch database and compare its rows and version tables with the source.
    type: bool
    default: false
  revisions:
    description: The Alembic revisions of the deployment per chain, recorded in the manifest.
    type: dict
    default: {}
  layout:
    description: The deployment's migration layout, recorded in the manifest.
    type: str
    default: unknown
  api_service:
    description: The Compose service of the API; its container's image is recorded in the manifest.
    type: str
    default: api
  compose_dir:
    description: The deployment's compose folder, recorded in the manifest.
    type: str
    default: ""
  compose_file:
    description:
      - The deployment's compose file. When it exists it is kept in the backup (C(compose_file)) with its checksum
        in the manifest, so that a restore puts back the services of the release the backup was taken on.
    type: path
  host:
    description: The name of the host in the manifest (the inventory name); empty takes the host's name.
    type: str
    default: ""
  run_journal:
    description:
      - The run journal of the host (M(agenta.fleet.run_lock)); when it belongs to O(run_id), the finished
        backup's manifest is recorded in it, so that a run whose controller died names its backup.
      - While the dump runs, the module notes there every 2 seconds how many bytes it has written; the controller
        shows them (see the notes).
    type: path
  run_id:
    description: The run whose journal O(run_journal) is.
    type: str
    default: ""
  lock:
    description:
      - Take the host's run lock O(run_journal) for O(run_id) as the first step, before the backup reads or writes
        anything, as M(agenta.fleet.run_lock) takes it (the same journal, the same refusal naming a live run that
        holds it, the same take-over of a dead one); saves the playbooks a call of their own. Needs O(run_journal)
        and O(run_id). In check mode it says whether the lock could be taken and writes nothing.
      - Released as before, by M(agenta.fleet.run_lock) with O(agenta.fleet.run_lock#module:state=released).
    type: dict
    suboptions:
      playbook:
        description: As O(agenta.fleet.run_lock#module:playbook).
        type: str
        default: upgrade
      owner:
        description: As O(agenta.fleet.run_lock#module:owner).
        type: str
        default: ""
      phase:
        description: As O(agenta.fleet.run_lock#module:phase), the phase the run starts in.
        type: str
        default: ""
      details:
        description: As O(agenta.fleet.run_lock#module:details).
        type: dict
        default: {}
      stale_after:
        description: As O(agenta.fleet.run_lock#module:stale_after).
        type: int
        default: 21600
      break_lock:
        description: As O(agenta.fleet.run_lock#module:break_lock).
        type: bool
        default: false
attributes:
  check_mode:
    support: full
    description: In check mode the folder is checked and the databases are read; nothing is written.
  diff_mode:
    support: none
    description: A backup is new files; there is no difference to show.
  idempotent:
    support: none
    description: Every run writes a new backup.
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host, as root.
notes:
  - The module runs as an asynchronous job through its action plugin, which prints a line every
    C(agenta_progress_interval) seconds (a variable of the host or play, default 15) while the backup runs, with the
    time so far and the bytes written (read from O(run_journal)). Databases the pre-checks measured below
    C(agenta_progress_min_bytes) (default 256 MiB, seconds of work), C(agenta_progress_interval=0), check mode or a
    task with its own C(async) run it the ordinary way. The result is the module's own.
seealso:
  - module: agenta.fleet.database_restore
  - module: agenta.fleet.deployment_info
"""

EXAMPLES = r"""
- name: Back up the deployment
  agenta.fleet.database_backup:
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    backup_dir: /var/backups/agenta
    keep: 5

- name: Take the host's run lock, then back up
  agenta.fleet.database_backup:
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    backup_dir: /var/backups/agenta
    run_journal: /var/lib/agenta-fleet/run.json
    run_id: backup-20261203T080000Z-4711
    lock:
      playbook: backup
      owner: alice@controller
      phase: backing up

- name: Back up two databases in directory format, with a trial restore
  agenta.fleet.database_backup:
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    backup_dir: /var/backups/agenta
    databases: [agenta_oss_core, agenta_oss_tracing]
    format: directory
    jobs: 4
    trial_restore: true
"""

RETURN = r"""
name:
  description: The backup's name.
  returned: always
  type: str
  sample: 20261203T080000Z
path:
  description: The backup's folder.
  returned: always
  type: str
  sample: /var/backups/agenta/20261203T080000Z
manifest:
  description: The path of its C(manifest.json).
  returned: always
  type: str
backup:
  description: The manifest as written (tool, name, host, created, images, layout, revisions, format, one entry
    per database with its file, checksum, size, row counts and version tables, the env file's checksum, what was
    verified). In check mode only the plan's parts.
  returned: always
  type: dict
databases:
  description: The databases backed up (in check mode, to back up), with their size on the server.
  returned: always
  type: list
  elements: dict
  sample: [{name: agenta_oss_core, size: 8201011}]
dumps:
  description: One entry per database (name, file, format, entries listed by C(pg_restore --list), seconds).
  returned: success
  type: list
  elements: dict
removed:
  description: The older backups removed by the retention (in check mode, that would be removed).
  returned: always
  type: list
  elements: str
trial_restore:
  description: Whether a trial restore matched the source (null when none was asked).
  returned: always
  type: bool
seconds:
  description: How long the whole run took.
  returned: always
  type: float
lock:
  description:
    - With O(lock), the run lock as taken, as M(agenta.fleet.run_lock) returns it (C(journal), C(previous),
      C(took_over)); C(took_over) is one sentence naming a dead run whose lock was taken over, or empty.
    - When another live run holds the lock, C(held_by) is that run's journal (the module then fails).
  returned: when O(lock) is given and the call got as far as taking it (its options checked)
  type: dict
"""

import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import backup_set, docker_access, progress, run_journal
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import (
    DeploymentError, parse_answers, plain_name, select_databases, server_sql)
from ansible_collections.agenta.fleet.plugins.module_utils.postgres_access import (
    connection_argument_spec, dump_all, ident, measure, open_server, restore_all)

TRIAL_PREFIX = "agenta_fleet_trial_"


def read_server(server):
    answer = parse_answers(server.psql([server_sql(sessions=False)])).get("server")
    if answer is None:
        raise DeploymentError("PostgreSQL in %s gave no answer." % server.name)
    return answer.get("databases") or []


def api_image(server, project, service):
    try:
        container = docker_access.find_container(server.client, project=project, service=service,
                                                 require_running=False)
    except docker_access.DockerAccessError:
        return ""
    return (container.attrs.get("Config") or {}).get("Image") or ""


def trial(server, path, dumps, source, jobs, timeout):
    """Restore every dump into its scratch database, compare with source, always drop them. -> '' or a mismatch."""
    items = [dict(name=d["name"], into=TRIAL_PREFIX + d["name"], file=d["file"], format=d["format"]) for d in dumps]
    try:
        restore_all(server, path, items, jobs, timeout)
        got = measure(server, [i["into"] for i in items])
        return backup_set.compare(source, dict((i["name"], got[i["into"]]) for i in items))
    finally:
        try:
            server.psql(["DROP DATABASE IF EXISTS %s WITH (FORCE)" % ident(i["into"]) for i in items])
        except DeploymentError as exc:
            raise DeploymentError("A scratch database %s* could not be dropped (%s); drop it by hand."
                                  % (TRIAL_PREFIX, exc))


def take(module, server, folder, path, name, names, sizes, image):
    """Everything that writes, in order; the caller removes path when this raises."""
    p = module.params
    os.mkdir(path, 0o700)
    # The controller shows how far the dump got (agenta.fleet.database_backup's action plugin reads the journal).
    watcher = progress.Watcher(lambda **fields: run_journal.note(p["run_journal"], p["run_id"], **fields), path,
                               sum(sizes.get(n) or 0 for n in names))
    if p["run_journal"] and p["run_id"]:
        watcher.start()
    try:
        # The rows are counted in the snapshot each database is dumped from (the manifest's counts are the dump's).
        dumps, source = dump_all(server, path, names, p["format"], p["jobs"], p["timeout"])
    finally:
        if watcher.is_alive():
            watcher.stop()
    with open(p["env_file"], "rb") as handle:
        backup_set.write_private(os.path.join(path, "env_file"), handle.read())
    keep_compose = bool(p["compose_file"]) and os.path.isfile(p["compose_file"])
    if keep_compose:
        with open(p["compose_file"], "rb") as handle:
            backup_set.write_private(os.path.join(path, "compose_file"), handle.read())
    backup_set.make_private(path, os.geteuid(), os.getegid())
    rels = backup_set.files_of(path)
    sums = dict((r, backup_set.sha256_of(os.path.join(path, r))) for r in rels)
    file_sizes = dict((r, os.path.getsize(os.path.join(path, r))) for r in rels)
    matched = None
    if p["trial_restore"]:
        mismatch = trial(server, path, dumps, source, p["jobs"], p["timeout"])
        if mismatch:
            raise DeploymentError("The trial restore does not match the source database: %s." % mismatch)
        matched = True
    manifest = {
        "tool": backup_set.TOOL,
        "manifest_version": backup_set.MANIFEST_VERSION,
        "name": name,
        "host": p["host"] or socket.gethostname(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "compose_project": p["compose_project"],
        "compose_dir": p["compose_dir"],
        "image": image,
        "image_tag": backup_set.image_tag(image),
        "postgres_image": server.image,
        "layout": p["layout"] or "unknown",
        "revisions": p["revisions"] or {},
        "format": p["format"],
        "databases": [backup_set.dump_entry(n, p["format"], sums, file_sizes, sizes.get(n), source[n]) for n in names],
        "env_file": {"source": p["env_file"], "file": "env_file", "sha256": sums["env_file"]},
        "verified": {"list": True, "trial_restore": matched},
    }
    if keep_compose:
        manifest["compose_file"] = {"source": p["compose_file"], "file": "compose_file", "sha256": sums["compose_file"]}
    backup_set.write_manifest(path, manifest)
    backup_set.point_latest(folder, name)
    return manifest, dumps, matched


def take_lock(module):
    """The run lock of run_id, taken before the backup reads anything (as agenta.fleet.run_lock takes it):
    -> {'lock': {...}} for the result; fails the module in one sentence when another live run holds it."""
    p, lock = module.params, module.params["lock"]
    problem = run_journal.lock_problem(p["run_id"], lock["stale_after"], "lock.stale_after")
    if problem:
        module.fail_json(msg=problem)
    try:
        taken = run_journal.acquire(p["run_journal"], p["run_id"], lock["playbook"], lock["owner"], lock["phase"],
                                    lock["details"], lock["stale_after"], lock["break_lock"], module.check_mode)
    except run_journal.LockHeld as exc:
        module.fail_json(msg=exc.msg, lock=dict(held_by=exc.held_by))
    except (IOError, OSError) as exc:
        module.fail_json(msg="Could not write the run lock %s: %s; check that its folder is writable."
                             % (p["run_journal"], exc.strerror or exc))
    return dict(lock=taken)


def main():
    spec = connection_argument_spec()
    spec.update(backup_dir=dict(type="path", required=True),
                name=dict(type="str", default=""),
                databases=dict(type="list", elements="str"),
                database_patterns=dict(type="list", elements="str", default=["agenta_%", "supertokens_%"]),
                format=dict(type="str", choices=["custom", "directory"], default="custom"),
                jobs=dict(type="int", default=2),
                keep=dict(type="int", default=5),
                trial_restore=dict(type="bool", default=False),
                revisions=dict(type="dict", default={}),
                layout=dict(type="str", default="unknown"),
                api_service=dict(type="str", default="api"),
                compose_dir=dict(type="str", default=""),
                compose_file=dict(type="path"),
                host=dict(type="str", default=""),
                run_journal=dict(type="path"),
                run_id=dict(type="str", default=""),
                lock=dict(type="dict", options=run_journal.lock_argument_spec()))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_by=dict(lock=["run_journal"]))
    p = module.params
    started = time.monotonic()
    if not module.check_mode:
        run_journal.outlive_connection()
    if not docker_access.HAS_DOCKER:
        module.fail_json(msg="The Docker SDK for Python is missing on this host; install python3-docker "
                             "(or pip install docker).", exception=docker_access.DOCKER_IMPORT_ERROR)
    for option in ("jobs", "keep"):
        if p[option] < 1:
            module.fail_json(msg="%s must be a whole number from 1, not %s." % (option, p[option]))
    name = p["name"] or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if not backup_set.BACKUP_NAME.match(name):
        module.fail_json(msg="The backup name %r is not of the form YYYYMMDDTHHMMSSZ." % name)
    taken = take_lock(module) if p["lock"] is not None else {}
    try:
        folder = backup_set.check_backup_dir(p["backup_dir"])
        server = open_server(p)
        found = read_server(server)
        if p["databases"] is None:
            chosen = select_databases(found, p["database_patterns"])
            if not chosen:
                raise DeploymentError("No Agenta database (%s) was found in %s." % (
                    " or ".join(p["database_patterns"]), server.name))
        else:
            by_name = dict((d["name"], d) for d in found)
            missing = [n for n in p["databases"] if plain_name(n, "database") not in by_name]
            if missing:
                raise DeploymentError("Database %s does not exist in %s." % (missing[0], server.name))
            chosen = [by_name[n] for n in p["databases"]]
        image = api_image(server, p["compose_project"], p["api_service"])
    except (DeploymentError, docker_access.DockerAccessError) as exc:
        module.fail_json(msg=str(exc), **taken)
    names = [d["name"] for d in chosen]
    sizes = dict((d["name"], d.get("size")) for d in chosen)
    path = os.path.join(folder, name)
    out = dict(changed=True, name=name, path=path, manifest=os.path.join(path, "manifest.json"),
               databases=[dict(name=d["name"], size=d.get("size")) for d in chosen], removed=[],
               trial_restore=None, **taken)
    if os.path.lexists(path):
        module.fail_json(msg="%s already exists; wait a second and run the backup again." % path, **out)
    if module.check_mode:
        if os.path.isdir(folder):
            out["removed"] = backup_set.backups_to_remove(folder, p["keep"], name, backup_set.read_json)
        out.update(backup=dict(name=name, format=p["format"], image=image, databases=names),
                   seconds=round(time.monotonic() - started, 3))
        module.exit_json(**out)
    try:
        if not os.path.isdir(folder):
            os.makedirs(folder, 0o700)
        os.chmod(folder, 0o700)
    except OSError as exc:
        module.fail_json(msg="Could not create the backup folder %s: %s; check that it is writable."
                             % (folder, exc.strerror or exc), **out)
    try:
        manifest, dumps, matched = take(module, server, folder, path, name, names, sizes, image)
    except (DeploymentError, docker_access.DockerAccessError, IOError, OSError) as exc:
        reason = str(exc) if isinstance(exc, (DeploymentError, docker_access.DockerAccessError)) else (
            "%s: %s" % (getattr(exc, "filename", "") or path, exc.strerror or exc))
        try:
            backup_set.remove_tree(path)
            module.fail_json(msg="The backup failed and its unfinished folder %s was removed: %s" % (path, reason),
                             **out)
        except OSError:
            module.fail_json(msg="The backup failed (%s) and its unfinished folder %s could not be removed; remove "
                                 "it by hand." % (reason, path), **out)
    out.update(backup=manifest, dumps=dumps, trial_restore=matched)
    run_journal.note(p["run_journal"], p["run_id"], phase="backed up", backup=out["manifest"])
    try:
        out["removed"] = backup_set.backups_to_remove(folder, p["keep"], name, backup_set.read_json)
        for old in out["removed"]:
            backup_set.remove_tree(os.path.join(folder, old))
    except OSError as exc:
        module.fail_json(msg="The backup %s is complete, but removing an old backup failed: %s." % (path, exc), **out)
    out["seconds"] = round(time.monotonic() - started, 3)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
