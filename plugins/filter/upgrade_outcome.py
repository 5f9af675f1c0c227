# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: upgrade_outcome
short_description: A host's plan as the run report shows it, the edition switch, or the first reason to refuse it
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes the plan the new image made on a host (the result of M(agenta.fleet.alembic_migration_info)), the host's
    route (the result of the filter C(agenta.fleet.upgrade_route)) and the run's input, and
    returns the host's entry of the run report (images, layout, revisions, pending revisions per chain, what the
    release deletes, the path, and one message), the edition switch (filter C(agenta.fleet.edition_switch)) and the
    first reason to refuse the plan.
  - RV(_value.problem) is one sentence that says what to do and RV(_value.step) names the check; both are empty when
    there is none. In order, the route's own problem (RV(_value.step) and RV(_value.problem) of the filter
    C(agenta.fleet.upgrade_route), as they are), the new image must be on the host, another image repository is taken only as the switch
    of an OSS deployment to EE and only from the release map's C(edition_stop), the image must know the database's
    revisions (no leftover revision, a graph it can read), and Agenta v0.45's rename of the databases needs the
    release's compose file, no rehearsal and a database no other host shares; last, outside check mode, what the
    release deletes needs C(settings.accept_data_loss) (the problem is then the message, which names it).
options:
  _input:
    description: The plan, the result of M(agenta.fleet.alembic_migration_info).
    type: dictionary
    required: true
  route:
    description: The host's route, the result of the filter C(agenta.fleet.upgrade_route).
    type: dictionary
    required: true
  settings:
    description:
      - The run's input, C(host) (the inventory name), C(group) (the host's groups, joined), C(target_tag) (none when
        unset), C(check_mode) (bool), C(db_owner), C(sharers) (the other hosts of this database), C(api_down) (the
        pre-flight checks' note on an API that does not run), C(accept_data_loss) (bool), C(release_map),
        C(release_dir) and C(rehearse) (bool).
    type: dictionary
    required: true
seealso:
  - plugin: agenta.fleet.upgrade_route
    plugin_type: filter
  - plugin: agenta.fleet.edition_switch
    plugin_type: filter
  - plugin: agenta.fleet.data_loss
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Judge the plan
  ansible.builtin.set_fact:
    verdict: >-
      {{ plan | agenta.fleet.upgrade_outcome(route, {'host': inventory_hostname, 'target_tag': 'v0.44.4',
         'db_owner': inventory_hostname, 'check_mode': ansible_check_mode}) }}

- name: Refuse a plan the run cannot take
  ansible.builtin.assert:
    that: verdict.problem | length == 0
    fail_msg: "{{ verdict.problem }}"
"""

RETURN = r"""
_value:
  description: The verdict.
  type: dictionary
  contains:
    step:
      description: The check that refused, for example C(Require the new image on the host); empty when none.
      type: string
    problem:
      description: One sentence ending in C(Nothing was changed.), or empty.
      type: string
    outcome:
      description:
        - The host's report entry - host, group, from_image and to_image (tags), layout, before (chain -> revision),
          pending (chain -> revisions), pending_total (a number, or why it is unknown), deletes (a summary or C(-)),
          path, path_note, data_loss (lines), outcome (C(planned) in check mode, else C(not reached)), db_owner,
          split (the v0.45 rename), edition, message; C(switch) when the run switches the deployment to EE.
      type: dictionary
    switch:
      description: What the filter C(agenta.fleet.edition_switch) decided (switch, chains, problem, note).
      type: dictionary
"""

import posixpath
from collections.abc import Mapping
from numbers import Number

from ansible.errors import AnsibleFilterError

from ansible_collections.agenta.fleet.plugins.filter.data_loss import data_loss
from ansible_collections.agenta.fleet.plugins.filter.edition_switch import edition_switch
from ansible_collections.agenta.fleet.plugins.filter.release_path import release_path
from ansible_collections.agenta.fleet.plugins.filter.upgrade_route import NOTHING_CHANGED, flag as _flag, image_tag


def _outcome(plan, route, s, loss):
    host = s.get("host") or "this host"
    owner = s.get("db_owner") or host
    path = route.get("path") or {}
    total = plan.get("pending_total")
    if not plan.get("image_present"):
        total = "unknown (image not pulled)"
    elif not isinstance(total, Number):
        total = "unknown (the image does not know the database revision)"
    api_down = str(s.get("api_down") or "").strip()
    message = api_down + (" " if api_down else "")
    if owner != host:
        message += "Shares its database with %s, which backs it up and migrates it." % owner
    if loss["deletes"] and not _flag(s, "accept_data_loss"):
        message += (" %s deletes %s on %s (%s); they are gone for good unless the backup is restored, so the run needs "
                    "-e agenta_accept_data_loss=true (or agenta_accept_data_loss in the inventory)." % (
                        image_tag(route.get("to_image", "")), loss["summary"], host, "; ".join(loss["lines"])))
    return {
        "host": host,
        "group": s.get("group") or "",
        "from_image": image_tag(route.get("from_image", "")),
        "to_image": image_tag(route.get("to_image", "")),
        "layout": plan.get("layout") or "?",
        "before": plan.get("revisions") or {},
        "pending": dict((c.get("name"), c.get("pending")) for c in plan.get("chains") or []),
        "pending_total": total,
        "deletes": loss["summary"] or "-",
        "path": path.get("hops", []),
        "path_note": path.get("note", ""),
        "data_loss": loss["lines"],
        "outcome": "planned" if _flag(s, "check_mode") else "not reached",
        "db_owner": owner,
        "split": plan.get("split") or [],
        "edition": plan.get("edition") or "",
        "message": message,
    }


def upgrade_outcome(plan, route, settings):
    if not all(isinstance(x, Mapping) for x in (plan, route, settings)):
        raise AnsibleFilterError("upgrade_outcome: expects the plan, the route and a dictionary of settings.")
    s = dict(settings)
    host = s.get("host") or "this host"
    tag = s.get("target_tag")
    to_image, from_repo, repo = route.get("to_image", ""), route.get("from_repo", ""), route.get("repo", "")
    outcome = _outcome(plan, route, s, data_loss(list(plan.get("destructive") or [])))
    out = {"step": "", "problem": "", "outcome": outcome, "switch": {}}

    def refuse(step, sentence):
        out.update(step=step, problem="%s %s" % (sentence, NOTHING_CHANGED))
        return out

    if route.get("problem"):
        # No plan was made for a route the run may not take.
        outcome.update(pending_total="-", deletes="-")
        out.update(step=route.get("step") or "", problem=route["problem"])
        return out
    if plan.get("pull_error") is not None:
        return refuse("Require the new image on the host",
                      "The image %s could not be pulled on %s (%s); check agenta_target_tag (%s) and the host's "
                      "registry login, then run again." % (to_image, host, plan["pull_error"],
                                                           tag if tag is not None else "unset"))

    switch = edition_switch(plan if plan.get("image_present") else {"skipped": True}, from_repo, repo)
    out["switch"] = switch
    if switch["problem"]:
        return refuse("Refuse an image change that is not the switch to EE", "%s: %s" % (host, switch["problem"]))
    if switch["switch"] == "ee":
        stop = release_path(image_tag(route.get("from_image", "")), image_tag(to_image), s.get("release_map") or {},
                            "ee")
        if stop["problem"]:
            return refuse("Refuse a switch to EE before the release it needs", "%s: %s" % (host, stop["problem"]))
        sentence = ("Switches from OSS (%s) to EE (%s): the EE chains (%s) run on the deployment's databases for the "
                    "first time, and the env file's AGENTA_API_IMAGE_NAME becomes %s." % (
                        from_repo, to_image, ", ".join(switch["chains"]) or switch["note"], posixpath.basename(repo)))
        outcome.update(switch="oss -> ee", message=" ".join(m for m in (outcome["message"], sentence) if m))

    leftover = plan.get("leftover")
    if (plan.get("image_present") and not isinstance(plan.get("pending_total"), Number)) or leftover:
        return refuse("Refuse a plan the new image cannot make", "%s cannot upgrade %s: %s" % (
            to_image, host, leftover or plan.get("summary", "no plan")))

    if any(item.get("from") for item in plan.get("split") or []):
        if not s.get("release_dir"):
            return refuse("Refuse the v0.45 rename without the release's compose file",
                          "%s reads the databases Agenta v0.45 renamed, and %s still has the names of v0.44 and "
                          "older; the release changed its compose file with them, so set agenta_release_dir to the "
                          "folder that holds docker-compose.gh.yml and env.oss.gh.example of that release and run "
                          "again." % (image_tag(to_image), host))
        if _flag(s, "rehearse"):
            return refuse("Refuse the v0.45 rename with a rehearsal",
                          "The upgrade of %s renames its databases as Agenta v0.45 does, which a rehearsal on copies "
                          "cannot do; run without agenta_rehearse." % host)
        if s.get("sharers"):
            return refuse("Refuse the v0.45 rename of a shared database",
                          "The database of %s is shared with %s, whose release keeps agenta_oss open, and the upgrade "
                          "does not rename a shared database: stop the app containers of every host that shares it, "
                          "rename with agenta.fleet.database_rename on %s (after backup-agenta.yml), then upgrade."
                          % (host, ", ".join(s["sharers"]), s.get("db_owner")))
    if outcome["deletes"] != "-" and not _flag(s, "accept_data_loss") and not _flag(s, "check_mode"):
        out.update(step="Refuse an upgrade that deletes rows unless the operator accepted it",
                   problem=outcome["message"].strip())
    return out


class FilterModule(object):
    def filters(self):
        return {"upgrade_outcome": upgrade_outcome}
