# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: verify_rows
short_description: Whether a deployment still holds the rows a backup manifest recorded, knowing what the release intends
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes what M(agenta.fleet.deployment_info) read on a host with a manifest and C(count_rows=true) (the manifest's
    content, the databases and their row counts) and returns the first problem as one sentence that says what to do,
    or an empty string, with the row counts compared and the tables the release changed on purpose.
  - In order, the manifest must list databases, the database must answer, and every table must hold at least the
    manifest's rows unless the migration that ran reported the change (filter C(agenta.fleet.row_check)).
  - A database of the manifest that no longer exists is looked up under its new name (O(settings.renames), Agenta
    v0.45's C(agenta_oss) -> C(agenta_oss_core)). The manifest's tables may be a mapping table -> rows or a list of
    C({name, rows}) (or C({name, count})).
  - Used by the role C(agenta.fleet.verify).
options:
  _input:
    description: The result of M(agenta.fleet.deployment_info) (C(manifest.content), C(database)).
    type: dictionary
    required: true
  settings:
    description:
      - C(host) (the inventory name), C(manifest) (its path, for the sentences), C(intended) (the C(tables_changed) of
        the migration that ran), C(renames) (old database name -> new), C(postgres_service) and C(env_file).
    type: dictionary
    required: true
seealso:
  - plugin: agenta.fleet.row_check
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Compare the row counts with the backup manifest
  ansible.builtin.set_fact:
    rows: "{{ read | agenta.fleet.verify_rows({'host': inventory_hostname, 'manifest': manifest}) }}"

- name: Require at least the manifest's rows
  ansible.builtin.assert:
    that: rows.problem | length == 0
    fail_msg: "{{ rows.problem }}"
"""

RETURN = r"""
_value:
  description: The comparison.
  type: dictionary
  contains:
    problem:
      description: One sentence, or empty.
      type: string
    expected:
      description: The manifest's row counts, C(database.table) -> rows, under the databases' names now.
      type: dictionary
    row_counts:
      description: The row counts now of the tables the manifest lists, C(database.table) -> rows.
      type: dictionary
    intended:
      description: The tables below the manifest by the release's intent (filter C(agenta.fleet.row_check)).
      type: list
      elements: dictionary
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.agenta.fleet.plugins.filter.row_check import row_check


def _count(rows):
    """A row count as Jinja's int filter reads it ("12.0" is 12, anything else that is not a number 0)."""
    try:
        return int(rows)
    except (TypeError, ValueError):
        try:
            return int(float(rows))
        except (TypeError, ValueError):
            return 0


def expected_rows(manifest, databases, renames=None):
    """The manifest's row counts, "database.table" -> rows, a database that no longer exists under its new name."""
    renames = renames or {}
    out = {}
    for db in (manifest or {}).get("databases") or []:
        name = db.get("name")
        if name not in databases and name in renames:
            name = renames[name]
        tables = db.get("tables") or {}
        if isinstance(tables, Mapping):
            tables = [{"name": t, "rows": rows} for t, rows in tables.items()]
        for table in tables:
            rows = table.get("rows") if "rows" in table else table.get("count")
            out["%s.%s" % (name, table.get("name"))] = _count(rows)
    return out


def verify_rows(read, settings):
    if not isinstance(read, Mapping) or not isinstance(settings, Mapping):
        raise AnsibleFilterError("verify_rows: expects the result of agenta.fleet.deployment_info and the settings.")
    s = dict(settings)
    host, manifest = s.get("host") or "this host", s.get("manifest") or ""
    out = {"problem": "", "expected": {}, "row_counts": {}, "intended": []}
    content = (read.get("manifest") or {}).get("content") or {}
    if not isinstance(content, Mapping) or not content.get("databases"):
        out["problem"] = ("The backup manifest %s on %s lists no databases; give the manifest.json written by "
                          "agenta.fleet.backup." % (manifest, host))
        return out
    database = read.get("database") or {}
    if not database.get("answered"):
        out["problem"] = ("The database in %s on %s does not answer (%s); check the postgres container (docker compose "
                          "logs postgres) and the login in %s, then verify again." % (
                              database.get("container") or s.get("postgres_service") or "postgres", host,
                              database.get("error") or "no output", s.get("env_file")))
        return out
    names = [d.get("name") for d in database.get("databases") or []]
    expected = expected_rows(content, names, s.get("renames"))
    actual = database.get("row_counts") or {}
    intended = list(s.get("intended") or [])
    check = row_check(expected, actual, intended)
    out.update(expected=expected, intended=check["intended"],
               row_counts=dict((k, v) for k, v in actual.items() if k in expected))
    if check["shortfalls"]:
        key, now, want = check["shortfalls"][0]
        out["problem"] = ("Table %s on %s %s, fewer than the %s the backup manifest %s recorded%s; restore that backup "
                          "(agenta.fleet.restore) or find where the rows went." % (
                              key, host, "is missing" if now is None else "has %s rows" % now, want, manifest,
                              ", and the migration did not report that change" if intended else ""))
    return out


class FilterModule(object):
    def filters(self):
        return {"verify_rows": verify_rows}
