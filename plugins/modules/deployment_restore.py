#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: deployment_restore
short_description: Put an Agenta deployment back as a backup holds it, in one call
version_added: 0.1.0
description:
  - The step of the role M(agenta.fleet.restore) that changes the host, in order, each step only after the one before
    it worked.
  - Lists every dump of O(restore) in O(source) and reads the login from the current env file; lists the Compose
    services (C(docker compose config --services)).
  - Keeps the current env file (and with O(put_back_compose_file) the compose file) next to it as
    C(<file>.before-restore), stops and removes the containers of every service except O(postgres_service)
    (C(docker compose rm --stop --force)), and writes the backup's C(env_file) (and C(compose_file)) over the
    deployment's, atomically, keeping the mode and owner the deployment gave them.
  - Then, for each entry of O(restore), drops the database, creates it empty and restores its dump with
    C(pg_restore --exit-on-error) in a one-shot container of the deployment's PostgreSQL image (every dump is listed
    before the first database is dropped), drops the databases of O(drop), counts the rows of every table of the
    restored databases, reads their Alembic version tables and compares both with the manifest's (the C(tables) and
    C(versions) of each entry of O(restore)), and requires every revision of O(revisions) in a version table.
  - Then, with O(start), runs C(docker compose up -d) with the restored files and removes the kept files (a failure
    before leaves them, next to the files they were kept from).
  - A failure before the first database is dropped puts the kept files back, starts the services again as they were
    (C(docker compose up -d)) and says so (RV(databases_changed) false); after it, the module stops where it failed
    and says that the databases were replaced. O(revert) false leaves the files and services as the failure found
    them (the caller changed the databases already, for example by putting a moved PostgreSQL cluster back).
  - The login is read from the env file inside the module; the password goes into the exec's and the one-shot
    container's environment through the Docker API, never into an argument, a task's C(environment) or the result.
  - In the run journal (O(run_journal)) the steps are C(restoring databases) (the first database is about to be
    dropped), C(databases restored) (restored, the databases of O(drop) dropped, compared with the manifest),
    C(services started) (after C(up -d)), or, for a failure once the files were being replaced, C(restore failed)
    with the error (C(restore_error)) and whether the databases were changed; the next run names the last of them.
author:
  - Agenta fleet maintainers (@agenta-fleet)
extends_documentation_fragment:
  - agenta.fleet.postgres_target
  - agenta.fleet.restore_job
  - agenta.fleet.compose_deployment
options:
  env_file:
    description:
      - Path, on the host, of the deployment's env file. The database is reached with the login it holds when the
        call starts; then the backup's copy replaces it.
  source:
    description: The backup folder on the host, holding the dumps, C(env_file) and (with O(put_back_compose_file))
      C(compose_file).
    type: path
    required: true
  restore:
    description:
      - The dumps to restore, in order, and what each database must hold afterwards, as the C(databases) of a backup
        manifest give them - C(name), C(file) (relative to O(source)), C(format) (V(custom), the default, or
        V(directory)), C(tables) (table -> rows) and C(versions) (version table -> revisions). Other keys are ignored.
    type: list
    elements: dict
    required: true
  drop:
    description: Databases to drop after the restores (those the upgrade made). One that is not there is left out.
    type: list
    elements: str
    default: []
  revisions:
    description: The manifest's revisions, chain -> revision; each one other than C(base) must be in a version table
      of the restored databases.
    type: dict
    default: {}
  put_back_compose_file:
    description: Put the backup's C(compose_file) back as well (a backup that holds one).
    type: bool
    default: false
  start:
    description: Run C(docker compose up -d) with the restored files at the end.
    type: bool
    default: true
  revert:
    description: On a failure before the first database is dropped, put the kept files back and start the services
      as they were.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: In check mode nothing is changed; the result names the services that would be stopped and the
      databases that would be restored and dropped.
  diff_mode:
    support: none
    description: Databases are replaced whole; there is no difference to show.
  idempotent:
    support: none
    description: Every call replaces the databases again.
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host, with the C(docker compose) plugin (Compose v2) or C(docker-compose).
requirements:
  - Docker with the Compose v2 plugin (C(docker compose)) or C(docker-compose) on the host.
notes:
  - The health of the API is the caller's to wait for (M(agenta.fleet.deployment_info) with C(health=true)).
seealso:
  - module: agenta.fleet.backup_info
  - module: agenta.fleet.database_restore
  - module: agenta.fleet.deployment_info
"""

EXAMPLES = r"""
- name: Read and check the backup
  agenta.fleet.backup_info:
    backup_dir: /var/backups/agenta
    host: "{{ inventory_hostname }}"
  register: backup

- name: Put the deployment back as the backup holds it
  agenta.fleet.deployment_restore:
    compose_dir: /opt/agenta/hosting/docker-compose/oss
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    source: "{{ backup.folder }}"
    restore: "{{ backup.manifest.databases }}"
    revisions: "{{ backup.manifest.revisions }}"
    put_back_compose_file: "{{ backup.manifest.compose_file is defined }}"
"""

RETURN = r"""
stopped:
  description: The services whose containers were stopped and removed (every service but O(postgres_service)); in
    check mode, those that would be.
  returned: always
  type: list
  elements: str
  sample: [api, web, worker]
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
services:
  description: The services of the compose file the deployment has afterwards (the backup's with
    O(put_back_compose_file)); on a failure, those it had before.
  returned: always
  type: list
  elements: str
up:
  description: Whether C(docker compose up -d) ran with the restored files. (Not C(started), which the asynchronous
    job of the action plugin reserves.)
  returned: always
  type: bool
databases_changed:
  description: Whether a database was dropped or replaced; false on a failure means the files were put back and the
    services started again as they were (unless O(revert) was false).
  returned: always
  type: bool
reverted:
  description: On a failure before any database changed, whether the kept files were put back and C(docker compose
    up -d) brought the services back as they were.
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import backup_set, docker_access, run_journal
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import EnvFileError, mask, parse_env_file
from ansible_collections.agenta.fleet.plugins.module_utils.compose_release import write_atomic
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import DeploymentError, plain_name
from ansible_collections.agenta.fleet.plugins.module_utils.postgres_access import (
    connection_argument_spec, existing_databases, ident, measure, missing_dump, open_server, restore_all,
    restore_job_argument_spec, within)

KEPT_SUFFIX = ".before-restore"


class Compose(object):
    """The deployment's Compose command line (v2 plugin, or docker-compose), run through the module."""

    def __init__(self, module, p, scrub):
        self.module = module
        self.p = p
        self.scrub = scrub
        rc = module.run_command(["docker", "compose", "version"])[0]
        self.base = ["docker", "compose"] if rc == 0 else [module.get_bin_path("docker-compose", required=True)]

    def run(self, *args):
        p = self.p
        argv = self.base + ["--project-directory", p["compose_dir"], "-f", p["compose_file"], "--env-file",
                            p["env_file"], "-p", p["compose_project"]] + list(args)
        rc, out, err = self.module.run_command(argv, cwd=p["compose_dir"])
        if rc != 0:
            lines = [line for line in (err or out or "").splitlines() if line.strip()] or ["no output"]
            raise DeploymentError("docker compose %s of project %s failed (exit %d: %s)" % (
                args[0], p["compose_project"], rc, self.scrub(lines[-1].strip())))
        return out

    def services(self):
        return [line.strip() for line in self.run("config", "--services").splitlines() if line.strip()]


def restore_items(entries, source):
    """The manifest's database entries -> [{name, into, format, file, path}]; DeploymentError on a bad entry."""
    items = []
    for entry in entries:
        name = plain_name(entry.get("name"), "database")
        fmt = entry.get("format") or "custom"
        if fmt not in ("custom", "directory") or not isinstance(entry.get("file"), str):
            raise DeploymentError("The dump of database %s needs a file and a format custom or directory." % name)
        items.append(dict(name=name, into=name, format=fmt, file=entry["file"], path=within(source, entry["file"])))
    return items


def lost_revisions(revisions, measured):
    """The revisions (chain -> revision) other than base that no version table of measured holds, sorted."""
    found = set()
    for data in measured.values():
        for value in ((data or {}).get("versions") or {}).values():
            found.update(v for v in str(value or "").split(",") if v)
    return sorted(set(str(r) for r in (revisions or {}).values() if r and r != "base") - found)


def check_restored(entries, measured, revisions):
    """'' when the restored databases hold what the manifest says, else one sentence."""
    want = dict((e["name"], dict(tables=e.get("tables") or {}, versions=e.get("versions") or {})) for e in entries)
    mismatch = backup_set.compare(want, measured)
    if mismatch:
        return "The restored data differs from the manifest: %s." % mismatch
    lost = lost_revisions(revisions, measured)
    if lost:
        return ("The restored data differs from the manifest: revision(s) %s of the manifest are in no version table."
                % ", ".join(lost))
    return ""


def read_env(path):
    """The variables of an env file as Compose reads them ({} when it cannot be read): only to hide its secrets."""
    try:
        with open(path, "rb") as handle:
            return parse_env_file(handle.read().decode("utf-8", "replace"), path)
    except (OSError, EnvFileError):
        return {}


def kept_path(path):
    return path + KEPT_SUFFIX


def keep(path):
    """A copy of path next to it (mode and owner kept), replacing an older copy."""
    with open(path, "rb") as handle:
        data = handle.read()
    dest = kept_path(path)
    if os.path.lexists(dest):
        os.unlink(dest)
    st = os.stat(path)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(dest, st.st_mode & 0o7777)
    if os.geteuid() == 0:
        os.chown(dest, st.st_uid, st.st_gid)
    return dest


def put(src, dest):
    """The bytes of src written over dest atomically, keeping dest's mode and owner (0600 for a new file)."""
    with open(src, "rb") as handle:
        write_atomic(dest, handle.read(), default_mode=0o600)


class Restore(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.out = dict(changed=False, stopped=[], restored=[], dropped=[], services=[], up=False,
                        databases_changed=False, reverted=False)
        self.kept = []  # (deployment file, its kept copy)
        self.server = None
        self.compose = None

    def files(self):
        p = self.p
        pairs = [(os.path.join(p["source"], "env_file"), p["env_file"])]
        if p["put_back_compose_file"]:
            pairs.append((os.path.join(p["source"], "compose_file"), p["compose_file"]))
        return pairs

    def prepare(self):
        """Reads only: the dumps, the backup's files, the login, the services. -> (items, drops, app services)."""
        p = self.p
        items = restore_items(p["restore"], p["source"])
        drops = [plain_name(n, "database") for n in p["drop"]]
        problem = missing_dump(p["source"], items)
        if problem is not None:
            raise problem
        for src, _dest in self.files():
            if not os.path.isfile(src):
                raise DeploymentError("The backup %s holds no %s; no database was changed. Point the restore at the "
                                      "backup's own folder." % (p["source"], os.path.basename(src)))
        self.server = open_server(p)
        backup_env = read_env(os.path.join(p["source"], "env_file"))
        self.compose = Compose(self.module, p, lambda text: mask(self.server.hide(text), backup_env))
        self.out["services"] = self.compose.services()
        apps = [s for s in self.out["services"] if s != p["postgres_service"]]
        return items, drops, apps

    def replace_files(self, apps):
        for _src, dest in self.files():
            try:
                self.kept.append((dest, keep(dest)))
            except OSError as exc:
                raise DeploymentError("The file %s cannot be kept as %s on this host (%s); make room or make its "
                                      "folder writable and run the restore again" % (
                                          dest, kept_path(dest), exc.strerror or exc))
            self.out["changed"] = True
        if apps:
            self.out["stopped"] = apps
            self.compose.run("rm", "--stop", "--force", *apps)
        for src, dest in self.files():
            try:
                put(src, dest)
            except OSError as exc:
                raise DeploymentError("The backup's %s cannot be written over %s on this host (%s); make it writable "
                                      "and run the restore again" % (os.path.basename(src), dest, exc.strerror or exc))

    def revert_files(self):
        """Back to the files and services as they were: the kept files put back, the services started. Raises
        DeploymentError naming the part that failed."""
        while self.kept:
            dest, copy = self.kept[0]
            try:
                put(copy, dest)
                os.unlink(copy)
            except OSError as exc:
                raise DeploymentError("%s could not be put back from %s (%s); copy it back by hand and start the "
                                      "services (docker compose up -d)" % (dest, copy, exc.strerror or exc))
            self.kept.pop(0)
        if self.compose is not None and self.out["stopped"]:
            try:
                self.compose.run("up", "-d")
            except DeploymentError as exc:
                raise DeploymentError("the files are back as they were, but %s; start the services by hand" % exc)
        self.out["reverted"] = True

    def replace_databases(self, items, drops):
        p = self.p
        self.out["databases_changed"] = True
        run_journal.note(p["run_journal"], p["run_id"], phase="restoring databases", restoring=p["source"])
        try:
            self.out["restored"] = restore_all(self.server, p["source"], items, p["jobs"], p["timeout"],
                                               note=run_journal.noter(p["run_journal"], p["run_id"]))
        except (DeploymentError, docker_access.DockerAccessError) as exc:
            if getattr(exc, "unchanged", False):
                self.out["databases_changed"] = False
            raise
        for name in existing_databases(self.server, drops):
            try:
                self.server.psql(["DROP DATABASE IF EXISTS %s WITH (FORCE)" % ident(name)])
            except DeploymentError as exc:
                raise DeploymentError("Dropping database %s failed: %s." % (name, exc))
            self.out["dropped"].append(name)
        run_journal.note(p["run_journal"], p["run_id"], progress=None)
        measured = measure(self.server, [i["name"] for i in items])
        unread = [name for name, data in measured.items() if data is None]
        if unread:
            raise DeploymentError("psql gave no row counts of the restored database %s" % unread[0])
        problem = check_restored(p["restore"], measured, p["revisions"])
        if problem:
            raise DeploymentError(problem)
        # Restored, the upgrade's databases dropped, every table's rows and version table as in the manifest.
        run_journal.note(p["run_journal"], p["run_id"], phase="databases restored")

    def finish(self):
        """The services started on the restored files, then the kept files removed (they stay when this fails)."""
        p = self.p
        if p["start"]:
            self.compose.run("up", "-d")
            self.out["up"] = True
            run_journal.note(p["run_journal"], p["run_id"], phase="services started")
        if p["put_back_compose_file"]:
            self.out["services"] = self.compose.services()
        for _dest, copy in self.kept:
            try:
                os.unlink(copy)
            except OSError:  # already gone: nothing to clean up
                pass
        self.kept = []

    def fail(self, exc):
        p = self.p
        msg = str(exc).rstrip(".") + "."
        if not self.out["databases_changed"] and self.out["changed"] and p["revert"]:
            try:
                self.revert_files()
            except DeploymentError as again:
                msg += " Putting everything back failed as well: %s." % str(again).rstrip(".")
        # The next run names how this one ended (the message names no secret: the module's errors are masked).
        run_journal.note(p["run_journal"], p["run_id"], phase="restore failed", restore_error=msg,
                         databases_changed=self.out["databases_changed"], progress=None)
        self.module.fail_json(msg=msg, **self.out)


def main():
    spec = connection_argument_spec()
    spec.update(compose_dir=dict(type="path", default="/opt/agenta/hosting/docker-compose/oss"),
                compose_file=dict(type="path"),
                source=dict(type="path", required=True),
                restore=dict(type="list", elements="dict", required=True),
                drop=dict(type="list", elements="str", default=[]),
                revisions=dict(type="dict", default={}),
                put_back_compose_file=dict(type="bool", default=False),
                start=dict(type="bool", default=True),
                revert=dict(type="bool", default=True))
    spec.update(restore_job_argument_spec())
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    p["compose_file"] = p["compose_file"] or os.path.join(p["compose_dir"], "docker-compose.gh.yml")
    if not module.check_mode:
        run_journal.outlive_connection()
    if not docker_access.HAS_DOCKER:
        module.fail_json(msg="The Docker SDK for Python is missing on this host; install python3-docker "
                             "(or pip install docker).", exception=docker_access.DOCKER_IMPORT_ERROR)
    if p["jobs"] < 1:
        module.fail_json(msg="jobs must be a whole number from 1, not %s." % p["jobs"])
    run = Restore(module)
    try:
        items, drops, apps = run.prepare()
        if module.check_mode:
            run.out.update(changed=True, stopped=apps, dropped=existing_databases(run.server, drops),
                           restored=[dict(name=i["name"], into=i["into"], seconds=0.0) for i in items])
    except (DeploymentError, docker_access.DockerAccessError) as exc:
        module.fail_json(msg=str(exc), **run.out)
    if module.check_mode:
        module.exit_json(**run.out)
    try:
        run.replace_files(apps)
        run.replace_databases(items, drops)
        run.finish()
    except (DeploymentError, docker_access.DockerAccessError) as exc:
        run.fail(exc)
    module.exit_json(**run.out)


if __name__ == "__main__":
    main()
