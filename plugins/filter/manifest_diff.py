# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: manifest_diff
short_description: The first difference between two measurements of databases (row counts and version tables)
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Compares what a backup manifest recorded with what the databases hold now, database by database, version tables
    first, then tables, in name order, and names the first difference in one sentence; empty when they agree.
  - The same comparison M(agenta.fleet.database_backup) makes after its trial restore.
options:
  _input:
    description: What the manifest says, C(database) -> C({tables, versions}).
    type: dictionary
    required: true
  got:
    description: What was measured, in the same shape.
    type: dictionary
    required: true
"""

EXAMPLES = r"""
- name: Compare the restored databases with the manifest
  ansible.builtin.set_fact:
    mismatch: "{{ manifest_counts | agenta.fleet.manifest_diff(measured) }}"
"""

RETURN = r"""
_value:
  description: One sentence naming the first difference, or an empty string.
  type: string
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.agenta.fleet.plugins.module_utils.backup_set import compare


def manifest_diff(want, got):
    if not isinstance(want, Mapping) or not isinstance(got, Mapping):
        raise AnsibleFilterError("manifest_diff compares two mappings database -> {tables, versions}.")
    return compare(dict(want), dict(got))


class FilterModule(object):
    def filters(self):
        return {"manifest_diff": manifest_diff}
