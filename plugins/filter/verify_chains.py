# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: verify_chains
short_description: Whether every Alembic chain of a deployment stands at its head or at its target
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes the chains of a deployment (from M(agenta.fleet.alembic_migration_info), which says C(current), or from
    M(agenta.fleet.alembic_migration), which says C(after)) and the targets the caller names, and returns one
    sentence per chain that is not where it should be, in the image's chain order, and the revision of every chain.
  - A chain with a target must stand at it (C(base) means no revision); a chain without one must have a single head
    and stand at it. A target for a chain the image does not have is a problem too.
  - It also takes what M(agenta.fleet.deployment_info) returns as RV(agenta.fleet.deployment_info#module:chains), and
    chains it could not read are one problem, which names why.
  - Used by the role C(agenta.fleet.verify).
options:
  _input:
    description:
      - The chains, each with C(name), C(heads) and C(current) or C(after); or the chains read of
        M(agenta.fleet.deployment_info) (C(read), C(error), C(reason), C(chains)).
    type: raw
    required: true
  targets:
    description: Chain name -> the revision it must stand at (C(verify_targets)).
    type: dictionary
    default: {}
  host:
    description: The inventory name, for the sentences.
    type: string
    default: this host
"""

EXAMPLES = r"""
- name: Require every chain at its head or target
  ansible.builtin.assert:
    that: check.problems | length == 0
    fail_msg: "{{ check.problems | first | default('') }}"
  vars:
    check: "{{ chains | agenta.fleet.verify_chains({'oss': 'base'}, inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description: The verdict.
  type: dictionary
  contains:
    problems:
      description: One sentence per chain that is not where it should be (and per target of an unknown chain).
      type: list
      elements: string
    revisions:
      description: Chain name -> the revision it stands at, C(base) when none.
      type: dictionary
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _revision(chain):
    return (chain.get("after") if "after" in chain else chain.get("current")) or "base"


def verify_chains(chains, targets=None, host="this host"):
    targets = targets or {}
    if isinstance(chains, Mapping):
        if not chains.get("read") or chains.get("error"):
            why = chains.get("error") or chains.get("reason") or "no answer"
            return {"problems": ["The Alembic chains of %s could not be read (%s); look at the api container's logs "
                                 "(docker compose logs api) and verify again." % (host, str(why).rstrip("."))],
                    "revisions": {}}
        chains = chains.get("chains") or []
    if not isinstance(chains, (list, tuple)) or not all(isinstance(c, Mapping) for c in chains):
        raise AnsibleFilterError("verify_chains: expects the list of chains (name, heads, current or after).")
    if not isinstance(targets, Mapping):
        raise AnsibleFilterError("verify_chains: the targets must map chain names to revisions.")
    names = [c.get("name") for c in chains]
    problems = ["verify_targets names chain %s, which the API image of %s does not have (it has %s); name only chains "
                "the image has." % (name, host, ", ".join(str(n) for n in names) or "no chains")
                for name in targets if name not in names]
    revisions = {}
    for chain in chains:
        name, current, heads = chain.get("name"), _revision(chain), list(chain.get("heads") or [])
        revisions[name] = current
        if name in targets:
            want = str(targets[name])
            if want != current:
                problems.append("Chain %s on %s is at %s, but the target is %s; migrate it to the target and verify "
                                "again." % (name, host, current, want))
        elif len(heads) != 1:
            problems.append("Chain %s on %s has %d heads in the API image (%s); name its target in verify_targets."
                            % (name, host, len(heads), ", ".join(str(h) for h in heads)))
        elif heads[0] != current:
            problems.append("Chain %s on %s is at %s, but its head is %s; migrate it (agenta.fleet.migrate) and verify "
                            "again." % (name, host, current, heads[0]))
    return {"problems": problems, "revisions": revisions}


class FilterModule(object):
    def filters(self):
        return {"verify_chains": verify_chains}
