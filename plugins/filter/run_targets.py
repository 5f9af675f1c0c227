# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: run_targets
short_description: Whether a run names the hosts it changes, in one sentence
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - The playbooks that change hosts (upgrade, rollback, backup, the auto-migration switch) first check, on the
    controller, which hosts the run would act on. This filter decides it from what the inventory resolved.
  - A run must name its hosts, with C(-l)/C(--limit), with C(agenta_hosts), or with C(agenta_whole_inventory=true)
    for the whole inventory; without any of them staging and production would change together.
  - The hosts must exist - C(agenta_hosts) and the limit together must match at least one host, so a misspelt
    group fails instead of ending green with nothing done.
  - The play must act on those hosts only - C(play_hosts) (C(ansible_play_hosts_all)) outside them are refused, because an
    C(agenta_hosts) set in the inventory is not seen by a play's C(hosts:) line, and a C(-l @file) limit cannot be
    resolved by the check, so either could widen the run.
  - The controller must run ansible-core 2.19.4 or later (C(ansible_version), when given) - older ones template nested
    facts to strings, and 2.19.0 to 2.19.3 can hang between two plays.
  - Returns an empty string when the run may go on, else one sentence naming the input and what to do.
options:
  _input:
    description:
      - C(pattern) (the C(agenta_hosts) pattern, default C(all)), C(pattern_set) (whether C(agenta_hosts) was
        given), C(matched) (hosts the pattern matches), C(limit) (C(ansible_limit), empty when none),
        C(limited) (hosts the limit matches; null when the limit is a C(@file)), C(whole_inventory) (bool),
        C(play_hosts) (the hosts the play runs on; checked when given), C(ansible_version) (the controller's
        ansible-core, C(ansible_version.full); checked first when given).
    type: dictionary
    required: true
"""

EXAMPLES = r"""
- name: Refuse a run that does not name its hosts
  ansible.builtin.assert:
    that: problem | length == 0
    fail_msg: "{{ problem }}"
  vars:
    problem: >-
      {{ {'pattern': agenta_hosts | default('all'), 'pattern_set': agenta_hosts is defined,
          'matched': query('ansible.builtin.inventory_hostnames', agenta_hosts | default('all')),
          'limit': ansible_limit | default(''),
          'limited': query('ansible.builtin.inventory_hostnames', ansible_limit) if ansible_limit is defined else none,
          'whole_inventory': agenta_whole_inventory | default(false) | bool} | agenta.fleet.run_targets }}
"""

RETURN = r"""
_value:
  description: Empty when the run may go on, else one sentence naming the input and what to do.
  type: string
"""

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

TRUE_WORDS = ("true", "yes", "on", "1", "y", "t")
# The floor in meta/runtime.yml (requires_ansible).
MIN_ANSIBLE = (2, 19, 4)


def version_tuple(text):
    """2.19.4rc1 -> (2, 19, 4): the leading numbers of each dotted part."""
    out = []
    for part in str(text).split(".")[:3]:
        digits = re.match(r"[0-9]*", part).group(0)
        out.append(int(digits) if digits else 0)
    return tuple(out + [0] * (3 - len(out)))


def old_ansible(version):
    if version is None or version_tuple(version) >= MIN_ANSIBLE:
        return ""
    return ("agenta.fleet needs ansible-core %s or later on the controller, and this is ansible-core %s; install a "
            "newer one (pip install 'ansible-core>=%s') and run again. Nothing was changed."
            % (".".join(map(str, MIN_ANSIBLE)), version, ".".join(map(str, MIN_ANSIBLE))))


def _hosts(value, what):
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(h, str) for h in value):
        raise AnsibleFilterError("run_targets: %s must be a list of host names." % what)
    return list(value)


def targets(run):
    """The hosts a run acts on: the pattern's hosts, narrowed by the limit when it is known."""
    matched = _hosts(run.get("matched") or [], "matched")
    limited = _hosts(run.get("limited"), "limited")
    if limited is None:
        return matched
    keep = set(limited)
    return [h for h in matched if h in keep]


def run_targets(run):
    if not isinstance(run, Mapping):
        raise AnsibleFilterError("run_targets takes a mapping: pattern, pattern_set, matched, limit, limited, "
                                 "whole_inventory.")
    too_old = old_ansible(run.get("ansible_version"))
    if too_old:
        return too_old
    pattern = str(run.get("pattern") or "all")
    limit = str(run.get("limit") or "")
    whole = str(run.get("whole_inventory")).lower() in TRUE_WORDS
    if not limit and not run.get("pattern_set") and not whole:
        return ("This run names no hosts, so it would act on the whole inventory (staging and production "
                "together); limit it (-l staging) or set agenta_hosts, or pass -e agenta_whole_inventory=true to "
                "mean every host. Nothing was changed.")
    hosts = targets(run)
    if not hosts:
        where = "agenta_hosts=%s" % pattern + (" with -l %s" % limit if limit else "")
        return ("%s matches no host of the inventory; check the group or host names (ansible-inventory --graph "
                "lists them). Nothing was changed." % where)
    play_hosts = _hosts(run.get("play_hosts"), "play_hosts")
    if play_hosts is not None:
        outside = [h for h in play_hosts if h not in set(hosts)]
        if outside:
            return ("This run would act on %s, which agenta_hosts=%s%s does not name; give agenta_hosts with -e (a "
                    "value in the inventory is not seen by the play's hosts line) and -l as a host pattern, not a "
                    "file. Nothing was changed." % (", ".join(sorted(outside)[:5]) + (
                        " and %d more" % (len(outside) - 5) if len(outside) > 5 else ""),
                        pattern, " with -l %s" % limit if limit else ""))
    return ""


class FilterModule(object):
    def filters(self):
        return {"run_targets": run_targets}
