#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: run_lock
short_description: Take or release a host's run lock, which is also the journal of the run that holds it
version_added: 0.1.0
description:
  - One file per host (O(path)) says which run of agenta.fleet is changing the host, with its id, playbook, owner,
    start, the phase it reached, its backup and its migration. The upgrade, rollback and backup playbooks take it
    before they change anything and release it at the end, so a second run of the same host refuses in one
    sentence naming the first. A playbook whose first change is a backup lets M(agenta.fleet.database_backup)
    take it in the same call (its option O(agenta.fleet.database_backup#module:lock)); this module releases it.
  - The modules that do the work (M(agenta.fleet.database_backup), M(agenta.fleet.alembic_migration)) add the
    backup and the migration to the journal of their run, so a run whose controller died leaves a trace of what
    it did. The next run reads it first.
  - A lock whose journal was last written more than O(stale_after) seconds ago, or one the operator breaks
    (O(break_lock)), is taken over; RV(previous) and RV(took_over) say what the dead run had done.
  - Releasing moves the journal to C(last-run.json) next to it, with the outcome. Only the run that holds the lock
    releases it.
author:
  - Agenta fleet maintainers (@agenta-fleet)
options:
  path:
    description: The lock and journal file on the host (0600, in a folder created 0700).
    type: path
    default: /var/lib/agenta-fleet/run.json
  state:
    description: V(acquired) takes (or updates) the lock of O(run_id); V(released) gives it up.
    type: str
    choices: [acquired, released]
    default: acquired
  run_id:
    description: The run's id, the same on every host of a run.
    type: str
    required: true
  playbook:
    description: What the run does (V(upgrade), V(rollback), V(backup)).
    type: str
    default: upgrade
  owner:
    description: Who runs it (user and controller).
    type: str
    default: ""
  phase:
    description: The phase the run has reached.
    type: str
    default: ""
  details:
    description: More facts of the run to record (target image, manifest, outcome).
    type: dict
    default: {}
  stale_after:
    description: Seconds after the journal's last write when another run's lock counts as abandoned.
    type: int
    default: 21600
  break_lock:
    description: Take over another run's lock even when it is not stale (its controller is known to be dead).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports whether the lock could be taken; writes nothing.
  diff_mode:
    support: none
    description: The journal is not shown as a difference.
  idempotent:
    support: partial
    description: Taking a lock the run holds again only updates its phase.
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host.
seealso:
  - module: agenta.fleet.database_backup
  - module: agenta.fleet.alembic_migration
"""

EXAMPLES = r"""
- name: Take the run lock
  agenta.fleet.run_lock:
    run_id: "{{ agenta_upgrade_run_id }}"
    playbook: upgrade
    owner: alice@controller
    phase: upgrading

- name: Release it
  agenta.fleet.run_lock:
    state: released
    run_id: "{{ agenta_upgrade_run_id }}"
    details:
      outcome: upgraded
"""

RETURN = r"""
journal:
  description: The journal of this run as written (in check mode, as it would be).
  returned: always
  type: dict
previous:
  description: The journal of another run that held the lock and was taken over; null when there was none.
  returned: always
  type: dict
took_over:
  description: One sentence naming the run whose lock was taken over and what it had done; empty when none.
  returned: always
  type: str
held_by:
  description: When the lock is held by another live run, that run's journal (the module then fails).
  returned: failure
  type: dict
last_run:
  description: The journal of the last run that released the lock (C(last-run.json)), or null.
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import run_journal


def acquire(module, out):
    p = module.params
    try:
        out.update(run_journal.acquire(p["path"], p["run_id"], p["playbook"], p["owner"], p["phase"], p["details"],
                                       p["stale_after"], p["break_lock"], module.check_mode))
    except run_journal.LockHeld as exc:
        if exc.held_by is not None:
            out["held_by"] = exc.held_by
        module.fail_json(msg=exc.msg, **out)


def release(module, out):
    p = module.params
    path = p["path"]
    existing = run_journal.read(path)
    if existing.get("run_id") != p["run_id"]:
        out["changed"] = False
        out["journal"] = existing
        return
    existing.update(p["details"])
    existing["finished"] = existing["updated"] = run_journal.now()
    if p["phase"]:
        existing["phase"] = p["phase"]
        existing.setdefault("steps", []).append({"phase": p["phase"], "time": existing["updated"]})
    out["journal"] = existing
    if not module.check_mode:
        run_journal.write(os.path.join(os.path.dirname(path), run_journal.LAST_NAME), existing)
        os.unlink(path)


def main():
    spec = run_journal.lock_argument_spec()
    spec.update(path=dict(type="path", default=run_journal.DEFAULT_PATH),
                state=dict(type="str", choices=["acquired", "released"], default="acquired"),
                run_id=dict(type="str", required=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    problem = run_journal.lock_problem(p["run_id"], p["stale_after"])
    if problem:
        module.fail_json(msg=problem)
    out = dict(changed=True, journal={}, previous=None, took_over="",
               last_run=run_journal.read(os.path.join(os.path.dirname(p["path"]), run_journal.LAST_NAME)) or None)
    try:
        if p["state"] == "acquired":
            acquire(module, out)
        else:
            release(module, out)
    except (IOError, OSError) as exc:
        module.fail_json(msg="Could not write the run lock %s: %s; check that its folder is writable."
                             % (p["path"], exc.strerror or exc), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
