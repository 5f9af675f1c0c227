#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: run_report
short_description: Write the report of a playbook run on the controller (JSON and Markdown) and lay out its table
version_added: 0.1.0
description:
  - Writes C(<dir>/<name>-<run_id>.json) and C(.md) on the controller, each 0600 and written whole (a reader never
    sees half a report), in a folder made 0700, and returns the summary table's lines.
  - Runs on the controller only (an action plugin); it never connects to the host of the task. Every batch of a
    C(serial) run can call it with the same O(run_id), so a rollout that stops early still leaves a complete
    report.
  - Entries should hold names, revisions, counts, paths and messages only; the playbooks of agenta.fleet never put
    a password in them.
  - A relative O(dir), a bad O(name) or O(run_id), or a folder that cannot be written fails in one sentence.
author:
  - Agenta fleet maintainers (@agenta-fleet)
options:
  dir:
    description:
      - Absolute folder on the controller for the report files.
      - Empty means C($AGENTA_FLEET_REPORT_DIR), else C(~/.local/share/agenta-fleet/reports).
    type: path
    default: ""
  name:
    description: Prefix of the file names, for example V(upgrade), V(rollback), V(status).
    type: str
    default: upgrade
  run_id:
    description: The run's id; empty means the UTC time now (C(20261203T140000Z)).
    type: str
    default: ""
  entries:
    description: One mapping per host; the keys named in O(columns) become the table's columns.
    type: list
    elements: dict
    default: []
  in_progress:
    description:
      - Hosts the run is about to change. Their entries that are still V(not reached) are written as
        V(in progress), with a sentence pointing at the host's run journal, so a run that dies (an unreachable
        host ends a C(serial) batch and the playbook) still leaves a report that names them.
      - The next report of the run, with the outcomes, replaces it.
    type: list
    elements: str
    default: []
  columns:
    description: The table's columns, each C({key, title}).
    type: list
    elements: dict
    default: [{key: host, title: HOST}, {key: outcome, title: OUTCOME}]
  publish:
    description:
      - Also publish the report as the run's custom stats (as M(ansible.builtin.set_stats) does, not per host, not
        aggregated) under C(agenta_fleet_report), for AWX/AAP workflows; each call replaces the last.
      - The stats hold C(run) (O(name)), C(run_id), C(check_mode), C(report) (the JSON file) and C(hosts) (the
        entries as written).
    type: bool
    default: false
    version_added: 0.1.0
attributes:
  check_mode:
    support: full
    description: The report is written in check mode too; the JSON says C(check_mode) true and the Markdown says so.
  diff_mode:
    support: none
    description: The report is not shown as a difference.
  platform:
    platforms: posix
    support: full
    description: Runs on the controller (an action plugin); it never connects to the task's host.
  action:
    support: full
    description: Implemented by an action plugin of the same name.
  async:
    support: none
    description: Returns when both files are written.
seealso:
  - module: agenta.fleet.run_lock
"""

EXAMPLES = r"""
- name: Write the report of this run
  agenta.fleet.run_report:
    dir: /var/log/agenta-fleet/reports
    name: upgrade
    run_id: "{{ run_id }}"
    entries: "{{ ansible_play_hosts_all | map('extract', hostvars, 'outcome') | select('defined') | list }}"
    columns:
      - {key: host, title: HOST}
      - {key: outcome, title: OUTCOME}
  run_once: true
  register: report

- name: Show the table
  ansible.builtin.debug:
    msg: "{{ report.rows }}"
"""

RETURN = r"""
run_id:
  description: The run id used in the file names.
  returned: success
  type: str
  sample: 20261203T140000Z
json:
  description: Path of the JSON report (run, run_id, check_mode, hosts).
  returned: success
  type: str
  sample: /var/log/agenta-fleet/reports/upgrade-20261203T140000Z.json
markdown:
  description: Path of the Markdown report.
  returned: success
  type: str
  sample: /var/log/agenta-fleet/reports/upgrade-20261203T140000Z.md
rows:
  description: The summary table, fixed width, titles first, one line per entry.
  returned: success
  type: list
  elements: str
  sample: ["HOST       OUTCOME", "staging-1  upgraded"]
"""
