# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: data_loss
short_description: What an upgrade's pending revisions will delete, from the migration plan
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes the C(destructive) list of a plan of P(agenta.fleet.alembic_migration_info#module) (or of a check-mode
    P(agenta.fleet.alembic_migration#module)) and sums it up for the plan and for the acknowledgement the upgrade
    asks for.
  - Dropping a table, dropping a column, C(TRUNCATE) and C(DELETE) delete rows; an C(UPDATE) rewrites them. A
    table that does not exist (rows null) is left out; an empty one is listed but deletes nothing.
options:
  _input:
    description: "Items C({chain, revision, database, table, action, column, rows})."
    type: list
    elements: dictionary
    required: true
"""

EXAMPLES = r"""
- name: Sum up what the release deletes
  ansible.builtin.set_fact:
    loss: "{{ plan.destructive | default([]) | agenta.fleet.data_loss }}"

# [{"chain": "core", "revision": "3d4e5f6a7b8c", "database": "agenta_oss_core", "table": "testsets",
#   "action": "drop", "column": null, "rows": 41}] gives deletes true, rows 41, tables 1 and the line
# "agenta_oss_core.testsets: 41 rows, dropped by 3d4e5f6a7b8c (chain core)".
"""

RETURN = r"""
_value:
  description: The summary.
  type: dictionary
  contains:
    deletes:
      description: Whether any pending revision deletes rows (needs the operator's acknowledgement).
      type: boolean
    tables:
      description: How many tables lose rows.
      type: integer
    rows:
      description: How many rows they hold now.
      type: integer
    lines:
      description: One line per affected table and revision, for the plan and the report.
      type: list
      elements: string
    summary:
      description: One phrase, C(20 tables, 391 rows), or empty when nothing is deleted.
      type: string
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

VERBS = {"drop": "dropped", "truncate": "emptied (TRUNCATE)", "delete": "rows deleted (DELETE)",
         "drop_column": "column %s dropped", "rewrite": "rows rewritten (UPDATE)"}
DELETING = ("drop", "truncate", "delete", "drop_column")


def _line(item):
    verb = VERBS.get(item.get("action"), item.get("action") or "changed")
    if "%s" in verb:
        verb = verb % (item.get("column") or "?")
    return "%s.%s: %s rows, %s by %s (chain %s)" % (
        item.get("database"), item.get("table"), item.get("rows"), verb, item.get("revision"), item.get("chain"))


def data_loss(destructive):
    if not isinstance(destructive, (list, tuple)):
        raise AnsibleFilterError("data_loss: expected the plan's destructive list.")
    lines, losing = [], {}
    for item in destructive:
        if not isinstance(item, Mapping):
            raise AnsibleFilterError("data_loss: each item of the plan's destructive list must be a mapping.")
        if item.get("rows") is None:
            continue  # the table does not exist on this host
        lines.append(_line(item))
        if item.get("action") in DELETING and int(item["rows"]) > 0:
            key = "%s.%s" % (item.get("database"), item.get("table"))
            losing[key] = max(losing.get(key, 0), int(item["rows"]))
    rows = sum(losing.values())
    summary = "%d table%s, %d rows" % (len(losing), "" if len(losing) == 1 else "s", rows) if losing else ""
    return {"deletes": bool(losing), "tables": len(losing), "rows": rows, "lines": lines, "summary": summary}


class FilterModule(object):
    def filters(self):
        return {"data_loss": data_loss}
