#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: database_rename
short_description: Rename an Agenta deployment's databases as Agenta v0.45 does (agenta_oss becomes agenta_oss_core)
version_added: 0.1.0
description:
  - Agenta v0.45 split the single G1 database. Its runner (C(split_core_and_tracing), before any chain) renames
    C(agenta_oss) to C(agenta_oss_core) and C(supertokens_oss) to C(agenta_oss_supertokens), and creates
    C(agenta_oss_tracing); when both the old and the new name exist it does nothing, and the chains then migrate the
    new one. This module does the same step as a phase of its own, after the backup and before the migration, so
    that the migration plans and runs against the names the new release reads, and the restore knows what the
    upgrade made.
  - It stops the running containers of the compose project except PostgreSQL (a database in use cannot be
    renamed), waits for the sessions on the old databases to end, writes the record O(record) (0600, next to the
    backup's manifest), renames every pair in one transaction and creates the missing databases. The restore
    role drops the databases the record names after its safety backup and restores the
    backup's databases under their old names.
  - The stopped containers stay stopped after a rename (their release reads the old names); the caller deploys
    the new release. A rename that fails starts them again and says what it could not undo.
  - Refused before anything changes, when both names of a pair exist (an earlier upgrade that was rolled back and kept
    the new database, say), neither name of the first pair exists, or another session still uses an old database.
  - The login is read from the env file; the password goes only into the environment of C(psql) in the postgres
    container, set through the Docker API.
author:
  - Agenta fleet maintainers (@agenta-fleet)
options:
  record:
    description: The record of the rename (JSON, 0600). Its folder must exist (the backup's folder).
    type: path
    required: true
  edition:
    description: Agenta's edition; it names the databases of Agenta's map (C(agenta_<edition>) and so on).
    type: str
    choices: [oss, ee]
    default: oss
  renames:
    description:
      - Old name -> new name. A pair whose old name is gone and whose new name exists is done already; a pair
        with neither name is skipped, except the first, which must exist in one of its names.
      - Unset, Agenta v0.45's map for O(edition) - C(agenta_oss) -> C(agenta_oss_core), C(supertokens_oss) ->
        C(agenta_oss_supertokens) (EE C(agenta_ee) -> C(agenta_ee_core), C(supertokens_ee) ->
        C(agenta_ee_supertokens)).
    type: dict
  create:
    description: Databases created (owned by the login) when missing, as the split creates the tracing database;
      unset, C(agenta_<edition>_tracing).
    type: list
    elements: str
  session_wait:
    description: Seconds to wait, after the containers stopped, for the sessions on the old databases to end.
    type: int
    default: 30
  stop_timeout:
    description: Seconds a container gets to stop before it is killed.
    type: int
    default: 30
extends_documentation_fragment:
  - agenta.fleet.postgres_target
attributes:
  check_mode:
    support: full
    description: Reads the server's databases and says what would be renamed and created; stops nothing.
  diff_mode:
    support: none
    description: Database names have no text to compare; RV(summary) says what changes.
  idempotent:
    support: full
    description: On a server whose databases have the new names already, a second call reports no change.
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host.
notes:
  - Run it after a verified backup. The rollback of a renamed deployment is the restore of that backup.
seealso:
  - module: agenta.fleet.database_restore
  - module: agenta.fleet.alembic_migration_info
"""

EXAMPLES = r"""
- name: Rename the databases as Agenta v0.45 does
  agenta.fleet.database_rename:
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    record: "{{ backup_result.path }}/database-rename.json"
  register: renamed
"""

RETURN = r"""
renamed:
  description: Old name -> new name of the databases this call renamed (in check mode, would rename).
  returned: always
  type: dict
  sample: {agenta_oss: agenta_oss_core, supertokens_oss: agenta_oss_supertokens}
created:
  description: Databases this call created (would create).
  returned: always
  type: list
  elements: str
  sample: [agenta_oss_tracing]
stopped:
  description: Containers of the project this call stopped (they stay stopped after a rename, and are started again
    after a failure it undid).
  returned: always
  type: list
  elements: str
  sample: [agenta-oss-gh-api-1]
untouched:
  description:
    - True when the databases are as they were and every container this call stopped runs again (a refusal, or a
      failure it undid); the upgrade then does not restore its backup. False once a database changed, or a stopped
      container could not be started again.
  returned: always
  type: bool
  sample: false
record:
  description: The record's path.
  returned: always
  type: str
  sample: /var/backups/agenta/20261204T230000Z/database-rename.json
summary:
  description: One sentence.
  returned: always
  type: str
  sample: "Renamed agenta_oss to agenta_oss_core and supertokens_oss to agenta_oss_supertokens and created agenta_oss_tracing, as Agenta v0.45 does."
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access, postgres_access, run_journal, run_report
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import DeploymentError, literal, plain_name

TOOL = "agenta.fleet.database_rename"


def split_map(edition):
    """Agenta's RENAME_MAP for an edition: ([(old, new)], [created])."""
    return ([("agenta_%s" % edition, "agenta_%s_core" % edition),
             ("supertokens_%s" % edition, "agenta_%s_supertokens" % edition)], ["agenta_%s_tracing" % edition])


def plan(existing, renames, create):
    """(to rename {old: new}, to create [names], done {old: new}) on a server with the databases `existing`.
    Raises ValueError (one sentence, nothing changed) for a pair with both names, or a first pair with neither."""
    to_rename, done = {}, {}
    for index, (old, new) in enumerate(renames):
        if old in existing and new in existing:
            raise ValueError(
                "Both %s and %s exist on this server, so the rename Agenta v0.45 makes cannot run (its runner would "
                "skip it and migrate %s, leaving the data in %s behind); %s is left from an earlier upgrade or "
                "restore: drop it (after a backup, if it holds anything you need), then upgrade again. Nothing was "
                "changed." % (old, new, new, old, new))
        if old in existing:
            to_rename[old] = new
        elif new in existing:
            done[old] = new
        elif index == 0:
            raise ValueError("Neither %s nor %s exists on this server, so there is nothing to rename; check the "
                             "env file's login and the compose project. Nothing was changed." % (old, new))
    renamed_to = set(to_rename.values()) | set(done.values())
    to_create = [name for name in create if name not in existing and name not in renamed_to]
    return to_rename, to_create, done


def rename_sql(to_rename):
    """One transaction: every pair or none."""
    statements = ['ALTER DATABASE "%s" RENAME TO "%s";' % (plain_name(old, "database"), plain_name(new, "database"))
                  for old, new in sorted(to_rename.items())]
    return ["BEGIN; %s COMMIT;" % " ".join(statements)]


def sessions_sql(names):
    """Client sessions on the databases (autovacuum workers are not: a rename ends them itself)."""
    return ["SELECT datname || '|' || coalesce(nullif(application_name, ''), 'an unnamed session') || '|' || "
            "coalesce(host(client_addr), 'local') FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' AND datname IN (%s) ORDER BY 1"
            % ", ".join(literal(plain_name(n, "database")) for n in sorted(names))]


def sessions_phrase(lines):
    """psql lines 'db|application|address' -> 'agenta_oss (an unnamed session from 172.18.0.5), ...'."""
    out = []
    for line in lines:
        parts = line.split("|")
        if len(parts) == 3:
            out.append("%s (%s from %s)" % tuple(parts))
    return ", ".join(out)


def summary(to_rename, to_create, check):
    parts = []
    if to_rename:
        parts.append(("would rename " if check else "renamed ")
                     + " and ".join("%s to %s" % pair for pair in sorted(to_rename.items())))
    if to_create:
        parts.append(("would create " if check else "created ") + ", ".join(to_create))
    if not parts:
        return "The databases have the names Agenta v0.45 gave them already; nothing was renamed."
    text = " and ".join(parts)
    return text[:1].upper() + text[1:] + ", as Agenta v0.45 does."


class Undone(Exception):
    """A failure after which the databases are as they were and every stopped container runs again."""


class NotUndone(DeploymentError):
    """A failure before the databases changed, after which a stopped container could not be started again."""


class Progress(object):
    """What a call has done so far: the containers it stopped, whether the databases changed."""

    def __init__(self):
        self.stopped = []
        self.changed_databases = False


def rename(server, p, to_rename, to_create, progress):
    """Stop, wait for the sessions, rename, create, record. Any failure before the databases changed starts the
    stopped containers again and raises Undone (or NotUndone naming what did not start); a failure after it raises
    DeploymentError (the restore of the backup puts the old names back)."""
    try:
        renamed_and_created(server, p, to_rename, to_create, progress)
    except (Undone, NotUndone):
        raise
    except Exception as exc:  # pylint: disable=broad-except  # every failure is said in one sentence
        reason = str(exc) if isinstance(exc, (DeploymentError, docker_access.DockerAccessError)) \
            else docker_access._reason(exc)
        if progress.changed_databases:
            raise DeploymentError("The rename failed after the databases changed (%s); the record %s says what was "
                                  "done: restore the backup." % (reason.rstrip("."), p["record"]))
        undo(server, p, progress, "The rename failed before any database changed: %s." % reason.rstrip("."))


def undo(server, p, progress, sentence):
    """The databases are as they were: drop the record, start what was stopped, raise Undone or NotUndone."""
    try:
        os.remove(p["record"])
    except OSError:
        pass
    problems = docker_access.start_again(server.client, p["compose_project"], progress.stopped)
    if problems:
        raise NotUndone("%s Nothing was renamed, but %s; start the stack (docker compose up -d) and run again."
                        % (sentence, "; ".join(problems)))
    raise Undone(sentence + (" The containers it stopped were started again." if progress.stopped else ""))


def as_before(server, to_rename, created):
    """Whether the server shows every old name and none of the new ones (after a failed statement, which may have
    gone through before its connection broke). A server that cannot be read counts as changed."""
    try:
        existing = set(server.psql(["SELECT datname FROM pg_database"]).split())
    except Exception:  # pylint: disable=broad-except  # unknown: not as before
        return False
    return (all(old in existing for old in to_rename) and not any(new in existing for new in to_rename.values())
            and not any(name in existing for name in created))


def renamed_and_created(server, p, to_rename, to_create, progress):
    record = dict(tool=TOOL, state="renaming", renamed=to_rename, created=to_create, time=run_journal.now())
    if to_rename:  # a database in use cannot be renamed; creating one needs nothing stopped
        for container in docker_access.project_containers(server.client, p["compose_project"]):
            service = (container.labels or {}).get(docker_access.SERVICE_LABEL)
            if container.status == "running" and service != p["postgres_service"]:
                progress.stopped.append(container.name)
                container.stop(timeout=p["stop_timeout"])
        deadline = time.monotonic() + max(p["session_wait"], 0)
        while True:
            busy = [line for line in server.psql(sessions_sql(to_rename)).splitlines() if line.strip()]
            if not busy or time.monotonic() >= deadline:
                break
            time.sleep(1)
        if busy:
            undo(server, p, progress,
                 "Other sessions still use %s after %d s: %s; stop them (another host sharing this database, a "
                 "client left open) and run again. Nothing was renamed."
                 % (", ".join(sorted(to_rename)), p["session_wait"], sessions_phrase(busy)))
    run_report.write_private(p["record"], json.dumps(record, indent=2, sort_keys=True) + "\n")
    if to_rename:
        try:
            server.psql(rename_sql(to_rename))
        except Exception as exc:  # pylint: disable=broad-except  # checked on the server below
            if not as_before(server, to_rename, []):
                progress.changed_databases = True
                raise
            undo(server, p, progress, "Could not rename %s: %s. Nothing was renamed."
                 % (", ".join(sorted(to_rename)), str(exc).rstrip(".")))
        progress.changed_databases = True
    made = []
    for name in to_create:
        try:
            server.psql(['CREATE DATABASE "%s"' % plain_name(name, "database")])
            made.append(name)
            progress.changed_databases = True
        except Exception as exc:  # pylint: disable=broad-except  # undone below, then checked on the server
            try:
                for created in made:
                    server.psql(['DROP DATABASE "%s"' % plain_name(created, "database")])
                back = dict((new, old) for old, new in to_rename.items())
                if back:
                    server.psql(rename_sql(back))
            except Exception as again:  # pylint: disable=broad-except
                progress.changed_databases = True
                raise DeploymentError("Could not create %s (%s), nor undo what was done before (%s)"
                                      % (name, str(exc).rstrip("."), str(again).rstrip(".")))
            if not as_before(server, to_rename, to_create):
                progress.changed_databases = True
                raise DeploymentError("Could not create %s (%s), and the server does not show the databases as "
                                      "they were" % (name, str(exc).rstrip(".")))
            progress.changed_databases = False
            undo(server, p, progress, "Could not create %s: %s. What was renamed or created was undone."
                 % (name, str(exc).rstrip(".")))
    record["state"] = "renamed"
    run_report.write_private(p["record"], json.dumps(record, indent=2, sort_keys=True) + "\n")


def main():
    argument_spec = postgres_access.connection_argument_spec()
    argument_spec.update(
        record=dict(type="path", required=True),
        edition=dict(type="str", choices=["oss", "ee"], default="oss"),
        renames=dict(type="dict"),
        create=dict(type="list", elements="str"),
        session_wait=dict(type="int", default=30),
        stop_timeout=dict(type="int", default=30),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    result = dict(changed=False, renamed={}, created=[], stopped=[], record=p["record"], untouched=True)
    if not os.path.isdir(os.path.dirname(p["record"]) or "."):
        module.fail_json(msg="The folder of the record %s does not exist on this host; point record at the folder of "
                             "the backup taken before the rename. Nothing was changed." % p["record"], **result)
    if not docker_access.HAS_DOCKER:
        module.fail_json(msg="The Docker SDK for Python (docker) is not installed on %s; install it (pip install "
                             "docker, or python3-docker) and run again." % os.uname()[1],
                         exception=docker_access.DOCKER_IMPORT_ERROR, **result)
    progress = Progress()
    try:
        default_pairs, default_create = split_map(p["edition"])
        pairs = [(plain_name(old, "database"), plain_name(str(new), "database"))
                 for old, new in (p["renames"].items() if p["renames"] is not None else default_pairs)]
        names = [plain_name(n, "database") for n in (p["create"] if p["create"] is not None else default_create)]
        server = postgres_access.open_server(p)
        existing = set(server.psql(["SELECT datname FROM pg_database"]).split())
        to_rename, to_create, dummy = plan(existing, pairs, names)
        result.update(renamed=to_rename, created=to_create, changed=bool(to_rename or to_create),
                      summary=summary(to_rename, to_create, module.check_mode))
        if result["changed"] and not module.check_mode:
            rename(server, p, to_rename, to_create, progress)
            result.update(stopped=progress.stopped, untouched=False)
    except (ValueError, Undone) as exc:
        # Refused before anything changed, or undone: the containers it stopped run again.
        result.update(changed=False, untouched=True, stopped=progress.stopped)
        module.fail_json(msg=str(exc), **result)
    except (DeploymentError, docker_access.DockerAccessError) as exc:
        changed = bool(progress.stopped) or progress.changed_databases
        result.update(changed=changed, untouched=not changed, stopped=progress.stopped)
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
