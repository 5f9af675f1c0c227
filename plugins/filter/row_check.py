# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: row_check
short_description: Compare a deployment's row counts with a backup manifest, knowing what the release intends
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes the row counts a backup manifest recorded (C(database.table) -> rows) and returns, per table, whether
    the deployment still holds them.
  - A table that is gone, or holds fewer rows, is a shortfall, unless the migration that ran reported that
    change itself (O(intended), the C(tables_changed) of P(agenta.fleet.alembic_migration#module)). A table the
    release drops, or rows a data migration deletes or moves, are the release's intent. Such a table is listed
    under C(intended) with the revision that did it, and counts as verified while it holds at least the rows the
    migration left.
options:
  _input:
    description: The manifest's row counts, C(database.table) -> rows.
    type: dictionary
    required: true
  actual:
    description: The row counts now, C(database.table) -> rows; a table that does not exist is absent.
    type: dictionary
    required: true
  intended:
    description: The C(tables_changed) of the migration that ran (empty when none ran).
    type: list
    elements: dictionary
    default: []
"""

EXAMPLES = r"""
- name: Compare the row counts
  ansible.builtin.set_fact:
    check: "{{ expected | agenta.fleet.row_check(actual, migrate_result.tables_changed | default([])) }}"

# {"core.testsets": 41} with actual {} and intended [{"database": "core", "table": "testsets", "rows_before": 41,
# "rows_after": null, "change": "dropped", "by": "3d4e5f6a7b8c"}] gives shortfalls [] and intended
# [{"table": "core.testsets", "rows_before": 41, "rows_after": null, "change": "dropped", "by": "3d4e5f6a7b8c"}].
"""

RETURN = r"""
_value:
  description: The comparison.
  type: dictionary
  contains:
    shortfalls:
      description: "C([table, rows now or null, rows expected]) of each table below the manifest, in manifest order."
      type: list
    intended:
      description: Tables below the manifest by the release's intent, each with C(table), C(rows_before) (the
        manifest's), C(rows_after) (now, null when dropped), C(change), C(by) and C(text), one line for a
        report, for example C(agenta_oss_core.testsets - 41 rows before, dropped by 3d4e5f6a7b8c).
      type: list
    checked:
      description: How many tables were compared.
      type: integer
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _intended_by_key(intended):
    out = {}
    for item in intended or []:
        if not isinstance(item, Mapping) or not item.get("database") or not item.get("table"):
            raise AnsibleFilterError("row_check: each intended change needs a database and a table.")
        out["%s.%s" % (item["database"], item["table"])] = item
    return out


def describe(key, before, now, change):
    """One line for a report: 'agenta_oss_core.testsets: 41 rows before, dropped by 3d4e5f6a7b8c'."""
    by = change.get("by") or "the migration"
    if now is None:
        return "%s: %s rows before, dropped by %s" % (key, before, by)
    return "%s: %s rows before, %s after (%s by %s)" % (key, before, now, change.get("change") or "changed", by)


def row_check(expected, actual, intended=None):
    if not isinstance(expected, Mapping) or not isinstance(actual, Mapping):
        raise AnsibleFilterError("row_check: the manifest's and the current row counts must be mappings.")
    by_key = _intended_by_key(intended)
    shortfalls, accepted = [], []
    for key, want in expected.items():
        want = int(want)
        now = actual.get(key)
        now = None if now is None else int(now)
        if now is not None and now >= want:
            continue
        change = by_key.get(key)
        if change is not None:
            left = change.get("rows_after")
            if (now is None and change.get("change") == "dropped") or (
                    now is not None and left is not None and now >= int(left)):
                accepted.append({"table": key, "rows_before": want, "rows_after": now,
                                 "change": change.get("change"), "by": change.get("by"),
                                 "text": describe(key, want, now, change)})
                continue
        shortfalls.append([key, now, want])
    return {"shortfalls": shortfalls, "intended": accepted, "checked": len(expected)}


class FilterModule(object):
    def filters(self):
        return {"row_check": row_check}
