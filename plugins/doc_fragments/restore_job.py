# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """What agenta.fleet.database_restore and agenta.fleet.deployment_restore share: pg_restore's jobs, the run
    journal they note their steps in, and their run as an asynchronous job
    (module_utils/postgres_access.restore_job_argument_spec)."""

    DOCUMENTATION = r"""
options:
  jobs:
    description: Parallel jobs of C(pg_restore) for V(directory) dumps.
    type: int
    default: 2
  run_journal:
    description:
      - The run journal of the host (M(agenta.fleet.run_lock)); when it belongs to O(run_id), the restore records
        in it when the databases start being replaced and when they are, so that a run whose controller died
        says how far its restore got.
      - While it restores, the module notes there how many databases are restored and which one it is on; the
        controller shows them (see the notes).
    type: path
  run_id:
    description: The run whose journal O(run_journal) is.
    type: str
    default: ""
notes:
  - The module runs as an asynchronous job through its action plugin, which prints a line every
    C(agenta_progress_interval) seconds (a variable of the host or play, default 15) while the restore runs, with
    the time so far and the databases restored so far (read from O(run_journal)). Databases the pre-checks measured
    below C(agenta_progress_min_bytes) (default 256 MiB, seconds of work), C(agenta_progress_interval=0), check mode
    or a task with its own C(async) run it the ordinary way. The result is the module's own.
"""
