#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alembic_migration
short_description: Run an Agenta deployment's Alembic migration chains
version_added: 0.1.0
description:
  - Upgrades or downgrades the Alembic migration chains of a self-hosted Agenta deployment, inside its API
    container (C(docker exec)) or in a one-shot container of a new API image on the deployment's network.
  - Detects the migration layout inside the image. C(g1) (Agenta v0.34 - v0.44) has one chain C(oss), run
    exactly as the documented manual command does (working folder C(/app/oss/databases/postgres/migrations),
    C(PYTHONPATH=/app), C(-c alembic.oss.ini)). C(g2) (v0.45 - v0.103) has C(core) and C(tracing). C(g3)
    (v0.104 and later) has the legacy C(core) and C(tracing) chains, parked at C(park00000000), and
    C(core_oss), C(tracing_oss) (EE adds C(core_ee), C(tracing_ee)), run in the order of Agenta's runner
    C(core), C(core_oss), C(core_ee), C(tracing), C(tracing_oss), C(tracing_ee), each from its own folder.
  - All chains run in one Python process in the container, through Alembic's Python API; never one exec
    per revision.
  - Two runs on the same database never run Alembic at the same time, whatever host or controller starts
    them; the second waits on a PostgreSQL advisory lock for up to O(lock_timeout) seconds, then finds
    the chains at head (C(changed=false)) or fails naming the holder of the lock.
  - Refuses, with one sentence and no change, a chain with several heads, a revision whose down_revision is
    itself, an unknown revision id, a C(*_oss) chain whose legacy chain is not parked (unless it is parked
    earlier in the same run), a downgrade to C(head) (a silent no-op in Alembic), and a downgrade through a
    revision whose downgrade raises C(NotImplementedError), does nothing, or is lossy (unless
    O(allow_irreversible)).
  - A downgrade is lossy when the revision's upgrade destroyed or rewrote existing data (C(op.drop_table),
    C(op.drop_column), or SQL with C(DROP TABLE), C(DROP COLUMN), C(TRUNCATE), C(DELETE FROM) or C(UPDATE) of
    existing columns), since its downgrade can at best re-create the table or column empty. Revision files
    are read statically, with the helpers they import from Agenta's packages, never imported.
  - Before anything runs (check mode too), RV(destructive) lists what the pending revisions will drop, truncate,
    delete or rewrite, with the rows those tables hold now.
  - An upgrade counts the rows of every table of the databases it migrates before and after, and returns the
    tables that appeared, disappeared or changed their row count in RV(tables_changed), with the revision that
    did it.
  - After the chains reached their heads, still holding the lock, an upgrade runs the release's own runner
    (C(python -m oss.databases.postgres.migrations.runner), EE C(ee.databases...), what Agenta's compose service
    C(alembic) runs), because it does more than Alembic (it copies the C(nodes) table from core to tracing and
    truncates it in core). See O(release_runner).
  - The driver sets C(LITELLM_LOCAL_MODEL_COST_MAP=True) unless the environment sets it, so that importing
    Agenta's modules does not try to fetch LiteLLM's price list from the network.
  - When a revision fails, the module fails naming it and the revision the chain stands at afterwards.
author:
  - Agenta fleet maintainers (@agenta-fleet)
extends_documentation_fragment:
  - agenta.fleet.docker_target
options:
  state:
    description:
      - V(upgraded) brings each chain to its head, or to the revision given in O(targets).
      - V(downgraded) brings each chain named in O(targets) back to that revision. Chains not in O(targets)
        are not touched. Newer chains go back first (reverse of the upgrade order).
    type: str
    choices: [upgraded, downgraded]
    default: upgraded
  chains:
    description:
      - Chains to run, instead of every chain the image has. They always run in Agenta's order, whatever
        the order of this list.
      - Known names are V(oss) (g1), V(core), V(tracing), V(core_oss), V(tracing_oss), V(core_ee), V(tracing_ee).
    type: list
    elements: str
  targets:
    description:
      - "Revision per chain, for example C({core_oss: c05500000001})."
      - With O(state=upgraded), chains without a target go to their head.
      - "With O(state=downgraded), required; V(base) removes every revision of the chain; V(head) is refused."
    type: dict
    default: {}
  allow_irreversible:
    description:
      - Let a downgrade run through revisions whose downgrade does nothing (their changes stay), is lossy (it
        runs, but the data the upgrade destroyed or rewrote does not come back) or raises
        C(NotImplementedError) (the run then fails at that revision, as Alembic does).
      - Without it such a downgrade is refused before anything runs. Restoring a backup is usually the
        right way back.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for another migration run on the same database to finish. Must be below O(timeout).
    type: int
    default: 300
  release_runner:
    description:
      - With O(state=upgraded), after the chains reached their heads, run the release's own runner
        (C(python -m oss.databases.postgres.migrations.runner), or C(ee.databases.postgres.migrations.runner) in
        an EE image) in the container, from C(/app) with the container's environment, under the same lock and
        within O(timeout). It runs whenever the image has that module (G2 and G3; G1 has none), also when no
        revision was pending, so that a run after a failed runner completes its steps.
      - Not run in check mode, for a downgrade, or when O(chains) or O(targets) limit the run (the runner brings
        every chain to its head). RV(runner) says what ran and why not.
      - Its failure fails the module.
    type: bool
    default: true
  state_file:
    description:
      - A file on the host where a run that applied revisions records what it did (JSON, 0600, in a folder the
        module creates 0700) with the time, the layout, per chain C(before), C(after), C(applied) and C(pending), the tables
        changed on purpose and what the release's runner did (without its output), plus O(state_extra).
      - Not written in check mode or when nothing was applied.
    type: path
  state_extra:
    description: More keys for the state file (the inventory name of the host, the image).
    type: dict
    default: {}
  run_journal:
    description:
      - The run journal of the host (M(agenta.fleet.run_lock)); when it belongs to O(run_id), the module records
        in it that the migration started (with the image) and how it ended, so that a run whose controller died
        leaves a trace.
      - While a one-shot container migrates (O(image)), the module notes there the chain it is on and how many of
        its pending revisions are applied; the controller shows them (see the notes).
    type: path
  run_id:
    description: The run whose journal O(run_journal) is.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    description: Reports the revisions that would be applied or reverted per chain, and what they would destroy
      (RV(destructive)), and changes nothing.
  diff_mode:
    support: full
    description: "Shows one line C(<chain>: <revision>) per chain, before and after."
  idempotent:
    support: full
    description: A second run finds nothing pending and reports C(changed=false).
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host; Alembic runs inside a container.
notes:
  - The module runs as an asynchronous job through its action plugin, which prints a line every
    C(agenta_progress_interval) seconds (a variable of the host or play, default 15) while the migration runs, with
    the time so far and, for a one-shot container, the chain and its revisions applied so far (read from
    O(run_journal)). Databases the pre-checks measured below C(agenta_progress_min_bytes) (default 256 MiB, seconds
    of work), C(agenta_progress_interval=0), check mode or a task with its own C(async) run it the ordinary way. The
    result is the module's own.
seealso:
  - module: agenta.fleet.alembic_migration_info
"""

EXAMPLES = r"""
- name: Migrate with the documented command's contract, in the running API container
  agenta.fleet.alembic_migration:
    container: agenta-oss-gh-api-1

- name: After pulling a new image, migrate with that image in a one-shot container
  agenta.fleet.alembic_migration:
    image: ghcr.io/agenta-ai/agenta-api:v0.113.0
    compose_project: agenta-oss-gh
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
  register: migration

- name: Show what would run, without changing anything
  agenta.fleet.alembic_migration:
    compose_project: agenta-oss-gh
    compose_service: api
  check_mode: true
  diff: true

- name: Go back to the revisions recorded before the upgrade
  agenta.fleet.alembic_migration:
    state: downgraded
    targets:
      tracing_oss: 7a5500000001
    allow_irreversible: true
"""

RETURN = r"""
layout:
  description: Migration layout found in the image.
  returned: when the image could be inspected
  type: str
  sample: g3
edition:
  description: V(oss), or V(ee) when the image has the EE chains.
  returned: when the image could be inspected
  type: str
  sample: oss
where:
  description: Where the driver ran.
  returned: when the driver ran
  type: str
  sample: container agenta-oss-gh-api-1
destructive:
  description:
    - What the pending revisions of an upgrade will destroy or rewrite, read from their files before anything
      runs (also in check mode); one entry per revision, table and action. Empty when nothing pending destroys
      data; null for a downgrade or when the plan was refused.
  returned: when the driver ran
  type: list
  elements: dict
  contains:
    chain:
      description: Chain of the revision.
      type: str
      sample: core
    revision:
      description: The pending revision.
      type: str
      sample: 3d4e5f6a7b8c
    database:
      description: Name of the chain's database (C(current_database())).
      type: str
      sample: agenta_oss_core
    table:
      description: Table affected (C(schema.table) outside schema C(public)).
      type: str
      sample: app_db
    action:
      description: V(drop), V(truncate), V(delete) (rows), V(drop_column) or V(rewrite) (rows UPDATEd).
      type: str
      sample: drop
    column:
      description: The column, for V(drop_column); null otherwise.
      type: str
      sample: null
    rows:
      description: Exact row count of the table now; null when the table does not exist (yet).
      type: int
      sample: 12
tables_changed:
  description:
    - After an upgrade (not in check mode), the tables of the migrated databases that were dropped or created or
      whose exact row count changed, counted before the chains and after the chains and the release's runner.
      Empty when nothing changed; null for a downgrade, in check mode, or when nothing ran.
  returned: when the driver ran
  type: list
  elements: dict
  contains:
    database:
      description: Database name.
      type: str
      sample: agenta_oss_core
    table:
      description: Table (C(schema.table) outside schema C(public)).
      type: str
      sample: app_db
    rows_before:
      description: Rows before the run; null when the table did not exist.
      type: int
      sample: 12
    rows_after:
      description: Rows after the run; null when the table was dropped.
      type: int
      sample: null
    change:
      description: V(dropped), V(created), V(fewer) or V(more).
      type: str
      sample: dropped
    by:
      description:
        - What changed it. The revision during which a table disappeared or appeared (seen through the
          migration's own connection); for fewer rows, the applied revisions whose files delete from or truncate
          the table; otherwise the applied range, C(chain <name> (<first>..<last>)). V(runner) for changes made
          by the release's runner. Several causes are joined with C(, ).
        - C(unknown (no revision ran on this database)) for a change no revision explains, such as rows a running
          API wrote meanwhile (counts are exact snapshots of the whole database).
      type: str
      sample: 3d4e5f6a7b8c
runner:
  description: The release's runner of an upgrade (see O(release_runner)); null for a downgrade.
  returned: when the driver ran
  type: dict
  contains:
    command:
      description: The command, without secrets; null when the image has no runner.
      type: str
      sample: /usr/local/bin/python -m oss.databases.postgres.migrations.runner
    ran:
      description: Whether it ran.
      type: bool
      sample: true
    rc:
      description: Exit status; null when it did not run or timed out.
      type: int
      sample: 0
    duration:
      description: Seconds it ran; null when it did not run.
      type: float
      sample: 11.2
    output:
      description: Its output (stdout and stderr), passwords masked, without library noise (as RV(chains[].output)).
      type: str
      sample: "runner: done"
    output_full:
      description: Its unfiltered output.
      returned: at verbosity 1 or more (C(-v))
      type: str
    note:
      description: Why it did not run, or a failure it printed while exiting 0; null otherwise.
      type: str
      sample: "Check mode: the release's runner would run after the chains."
notes:
  description: Remarks of the run, for example a database whose rows could not be counted.
  returned: when the driver ran
  type: list
  elements: str
  sample: []
lock_wait:
  description:
    - Seconds spent waiting for the migration lock of the databases; null when no lock was needed (check mode,
      or nothing pending).
  returned: when the driver ran
  type: float
  sample: 0.002
chains:
  description: One entry per chain considered, in the order they ran.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Chain name.
      type: str
      sample: core_oss
    config:
      description: Alembic configuration file of the chain inside the image.
      type: str
      sample: /app/oss/databases/postgres/migrations/core_oss/alembic.ini
    version_table:
      description: Version table of the chain.
      type: str
      sample: alembic_version_oss
    heads:
      description: Head revisions of the chain in the image.
      type: list
      elements: str
      sample: [c05500000003]
    target:
      description: Revision the run aimed at.
      type: str
      sample: c05500000003
    before:
      description: Revision before the run (null when the chain had none).
      type: str
      sample: c05500000001
    after:
      description: Revision after the run; in check mode, where the chain would stand.
      type: str
      sample: c05500000003
    pending:
      description: Revisions that were to be applied (or reverted), in order.
      type: list
      elements: str
      sample: [c05500000002, c05500000003]
    applied:
      description: Revisions actually applied (or reverted), in order. Empty in check mode.
      type: list
      elements: str
      sample: [c05500000002, c05500000003]
    duration:
      description: Seconds Alembic ran for this chain.
      type: float
      sample: 0.41
    output:
      description:
        - Alembic's output for this chain, passwords masked, without the import noise of Agenta's libraries
          (Python warnings raised in site-packages such as pydantic's, LiteLLM's price-list messages). Alembic's
          lines, errors, tracebacks and what the migrations print are kept.
      type: str
      sample: "INFO  [alembic.runtime.migration] Running upgrade c05500000001 -> c05500000002, rewrite rows"
    output_full:
      description: The unfiltered output, passwords masked.
      returned: at verbosity 1 or more (C(-v))
      type: str
    note:
      description: Remark about the chain, if any.
      type: str
      sample: null
    unknown:
      description: Revisions the database holds that this image does not know (the run is then refused).
      type: list
      elements: str
      sample: []
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access, run_journal
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import (
    build_spec, diff_text, planned_after, shape_output, validate)
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_runner import (
    RunError, holder_label, location_argument_spec, require_docker, run_driver)


def main():
    argument_spec = location_argument_spec()
    argument_spec.update(
        state=dict(type="str", default="upgraded", choices=["upgraded", "downgraded"]),
        chains=dict(type="list", elements="str"),
        targets=dict(type="dict", default={}),
        allow_irreversible=dict(type="bool", default=False),
        lock_timeout=dict(type="int", default=300),
        release_runner=dict(type="bool", default=True),
        state_file=dict(type="path"),
        state_extra=dict(type="dict", default={}),
        run_journal=dict(type="path"),
        run_id=dict(type="str", default=""),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if not module.check_mode:
        run_journal.outlive_connection()
    action = "upgrade" if params["state"] == "upgraded" else "downgrade"
    problem = validate(params, action)
    if problem:
        module.fail_json(msg=problem, changed=False, chains=[])
    require_docker(module)

    spec = build_spec(params, action, module.check_mode, holder_label())
    journal = None if module.check_mode else params["run_journal"]
    run_journal.note(journal, params["run_id"], phase="migrating",
                     migration="%s with %s" % (action, params.get("image") or params.get("container") or "?"))
    note = run_journal.noter(journal, params["run_id"])
    try:
        result = run_driver(params, spec, note=note, cache_create=not module.check_mode)
    except docker_access.DockerAccessError as exc:
        run_journal.note(journal, params["run_id"], phase="migration failed", error=str(exc), progress=None)
        module.fail_json(msg=str(exc), changed=False, chains=[])
    except RunError as exc:
        run_journal.note(journal, params["run_id"], phase="migration failed", error=exc.msg, progress=None)
        module.fail_json(msg=exc.msg, changed=False, chains=[], **exc.extra)
    if result.get("error"):
        run_journal.note(journal, params["run_id"], phase="migration failed", error=result["error"], progress=None)
    else:
        run_journal.note(journal, params["run_id"], phase="migrated", progress=None)

    chains = result.get("chains") or []
    verbose = module._verbosity >= 1
    for chain in chains:
        shape_output(chain, verbose)
    shape_output(result.get("runner"), verbose)
    if module.check_mode:
        for chain in chains:
            chain["after"] = planned_after(chain)
            chain["applied"] = []
        # A refused plan would change nothing.
        changed = not result.get("error") and any(chain.get("pending") for chain in chains)
    else:
        changed = bool(result.get("changed"))
    out = dict(changed=changed, layout=result.get("layout"), edition=result.get("edition"),
               where=result.get("where"), lock_wait=result.get("lock_wait"), chains=chains,
               destructive=result.get("destructive"), tables_changed=result.get("tables_changed"),
               runner=result.get("runner"), notes=result.get("notes") or [])
    if module._diff:
        out["diff"] = dict(before=diff_text(chains, "before"), after=diff_text(chains, "after"))
    if result.get("error"):
        module.fail_json(msg=result["error"], **out)
    if params["state_file"] and not module.check_mode and any(chain.get("applied") for chain in chains):
        try:
            write_state(params["state_file"], state_record(out, params["state_extra"]))
        except (IOError, OSError) as exc:
            module.fail_json(msg="The migration ran, but its state file %s could not be written: %s; the database is "
                                 "migrated, write access to that folder is missing." % (params["state_file"],
                                                                                        exc.strerror or exc), **out)
    module.exit_json(**out)


def state_record(out, extra):
    """What a migration leaves on the host: when, the layout, each chain's before/after/applied/pending."""
    def by_chain(key):
        return dict((c["name"], c.get(key)) for c in out["chains"])
    runner = dict((k, v) for k, v in (out.get("runner") or {}).items() if k not in ("output", "output_full"))
    record = dict(time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), changed=out["changed"],
                  layout=out["layout"], before=by_chain("before"), after=by_chain("after"),
                  applied=by_chain("applied"), pending=by_chain("pending"),
                  tables_changed=out.get("tables_changed") or [], runner=runner)
    record.update(extra or {})
    return record


def write_state(path, record):
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        os.makedirs(folder, 0o700)
    tmp = path + ".tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(record, indent=4, sort_keys=True) + "\n")
    os.rename(tmp, path)


if __name__ == "__main__":
    main()
