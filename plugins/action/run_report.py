# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of agenta.fleet.run_report: writes the run report on the controller in one step."""

from __future__ import annotations

import datetime
import os
import re

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.agenta.fleet.plugins.module_utils import run_report

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dir", "name", "run_id", "entries", "columns", "in_progress", "publish"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        folder = str(args.get("dir") or "").strip() or run_report.default_dir(os.environ)
        name = args.get("name", "upgrade")
        entries = args.get("entries") or []
        in_progress = args.get("in_progress") or []
        columns = args.get("columns") or [{"key": "host", "title": "HOST"}, {"key": "outcome", "title": "OUTCOME"}]
        unknown = sorted(set(args) - self._VALID_ARGS)
        problem = ("Unsupported option(s) of agenta.fleet.run_report: %s." % ", ".join(unknown)) if unknown else \
            run_report.check_input(folder, name, entries, columns)
        run_id = str(args.get("run_id") or "").strip() or \
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        if problem is None and not RUN_ID.match(run_id):
            problem = "The report's run_id must be letters, digits, '.', '_' or '-', not %r." % run_id
        if problem is None and (not isinstance(in_progress, list) or not all(isinstance(h, str) for h in in_progress)):
            problem = "The report's in_progress must be a list of host names."
        if problem:
            result.update(failed=True, changed=False, msg=problem)
            return result
        entries = run_report.mark_in_progress(entries, in_progress)
        # The run's --check (the report role writes with check_mode: false), or check_mode: true on the task itself.
        check_mode = bool(task_vars.get("ansible_check_mode", False)) or bool(self._task.check_mode)
        try:
            json_path, md_path = run_report.write(folder, name, run_id, check_mode, entries, columns)
        except OSError as exc:
            result.update(failed=True, changed=False,
                          msg="The report could not be written in %s (%s); set agenta_report_dir to a folder "
                              "the controller's user can write." % (folder, exc.strerror or exc))
            return result
        # The report is about the hosts; writing it changes none of them.
        result.update(changed=False, run_id=run_id, json=json_path, markdown=md_path,
                      rows=run_report.table_rows(entries, columns))
        if boolean(args.get("publish", False), strict=False):
            # Ansible's strategy takes ansible_stats from any task's result, as from set_stats's.
            result["ansible_stats"] = {"data": {"agenta_fleet_report": {
                "run": name, "run_id": run_id, "check_mode": check_mode, "report": json_path, "hosts": entries}},
                "per_host": False, "aggregate": False}
        return result
