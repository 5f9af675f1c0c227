# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: edition_switch
short_description: Whether an upgrade switches an OSS deployment to Agenta EE, or changes its image in a way it cannot
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes the plan of the new image (M(agenta.fleet.alembic_migration_info)'s result), the repository of the image the
    deployment runs and the repository of the new image (C(agenta_target_image)), and decides in one place whether
    the run is the switch from OSS to EE.
  - The same repository is no switch, whatever the databases hold. Another repository is accepted only as the switch
    to EE - an EE image (its plan's C(edition) is C(ee), it has C(*_ee) chains) whose EE chains have never run, on
    databases whose OSS chains hold revisions. Anything else (an OSS image, databases that are EE already, databases
    without OSS revisions) is refused in RV(_value.problem).
  - A plan that was not made (check mode without the image on the host) is taken as the switch to EE, with a note;
    the real run decides again with the plan.
options:
  _input:
    description: The plan of the new image (C(edition), C(revisions) chain -> revision or C(base), C(skipped)).
    type: dictionary
    required: true
  from_repo:
    description: The repository of the image the deployment runs, without the tag.
    type: string
    required: true
  to_repo:
    description: The repository of the new image, without the tag.
    type: string
    required: true
"""

EXAMPLES = r"""
- name: Refuse an image change that is not the switch to EE
  ansible.builtin.assert:
    that: switch.problem | length == 0
    fail_msg: "{{ switch.problem }}"
  vars:
    switch: "{{ plan | agenta.fleet.edition_switch('ghcr.io/agenta-ai/agenta-api', 'ghcr.io/agenta-ai/agenta-api-ee') }}"
"""

RETURN = r"""
_value:
  description: The decision.
  type: dictionary
  contains:
    switch:
      description: C(ee) when the run switches the deployment to EE, else empty.
      type: string
    chains:
      description: The EE chains the switch runs for the first time (empty when the plan was not made).
      type: list
      elements: str
    problem:
      description: Empty when the run may go, else one sentence naming agenta_target_image and what to do.
      type: string
    note:
      description: Why the EE chains were not read (no plan), else empty.
      type: string
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

NEVER_RAN = (None, "", "base")


def edition_switch(plan, from_repo, to_repo):
    out = {"switch": "", "chains": [], "problem": "", "note": ""}
    if not isinstance(plan, Mapping):
        raise AnsibleFilterError("edition_switch: the plan must be a dictionary (alembic_migration_info's result).")
    if not to_repo or to_repo == from_repo:
        return out
    revisions = plan.get("revisions") or {}
    if plan.get("skipped"):
        out.update(switch="ee", note="presumed: the chains of %s were not read (the image is not on the host, so the "
                                     "plan was not made); the run reads them before anything changes" % to_repo)
        return out
    ee = sorted(c for c in revisions if c.endswith("_ee"))
    oss_done = sorted(c for c, rev in revisions.items() if not c.endswith("_ee") and rev not in NEVER_RAN)
    ee_done = ["%s at %s" % (c, revisions[c]) for c in ee if revisions[c] not in NEVER_RAN]
    head = ("agenta_target_image (%s) changes the image of the deployment (%s), which an upgrade does only to switch "
            "an OSS deployment to EE" % (to_repo, from_repo))
    if not plan.get("edition"):
        out["problem"] = "%s, and its plan does not say which edition it is: check the image, then run again." % head
    elif plan.get("edition") != "ee" or not ee:
        out["problem"] = ("%s, and it is not an EE image with the EE chains (core_ee, tracing_ee): leave "
                          "agenta_target_image unset to upgrade on the same image, and restore an OSS backup to go back "
                          "from EE to OSS." % head)
    elif ee_done:
        out["problem"] = ("%s, and the databases hold EE revisions already (%s): either the deployment is EE already "
                          "(leave agenta_target_image unset, or set it to the repository the deployment runs), or a "
                          "switch stopped halfway (roll back to the backup taken before it with rollback-agenta.yml, "
                          "then switch again)." % (head, ", ".join(ee_done)))
    elif not oss_done:
        out["problem"] = ("%s, and the databases it reads hold no OSS revision (a first install, or the env file's "
                          "POSTGRES_URI_* are unset, so the EE image would use the agenta_ee_* names): set "
                          "POSTGRES_URI_CORE and POSTGRES_URI_TRACING in the env file to the deployment's databases, "
                          "then run again." % head)
    else:
        out.update(switch="ee", chains=ee)
    return out


class FilterModule(object):
    def filters(self):
        return {"edition_switch": edition_switch}
