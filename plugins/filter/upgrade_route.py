# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: upgrade_route
short_description: Where an upgrade takes a host (images, release path, stops), or the first reason it may not
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes what the pre-flight checks recorded on a host (the fact C(preflight_result) of the role
    C(agenta.fleet.preflight)) and the run's input, and returns the image the host runs, the image it goes to, the
    path through the release map and the required stops the run goes through.
  - RV(_value.problem) is the first reason the run may not take the host there, as one sentence that says what to do,
    and RV(_value.step) names the check (the report writes the step, a colon and the problem); both are empty when
    there is none.
    In order, a host that shares another host's database takes no release folder (only the owner's backup keeps
    the compose file), the API must run the image the env file names (unless this run's own dead run wrote the target tag),
    a target image must sit in the registry folder the compose file names images from, the target must not skip a
    required stop (unless O(settings.through_stops)), and stops go neither with a release folder, a rehearsal nor
    another image repository.
  - Used by C(upgrade-agenta.yml) in its pre-checks; the sentences are the ones the playbook printed before.
options:
  _input:
    description: The pre-flight record, C(preflight_result) (C(containers.api.image), C(api_image), C(run_lock), C(chains)).
    type: dictionary
    required: true
  settings:
    description:
      - The run's input, C(host) (the inventory name), C(target_tag) (C(agenta_target_tag), none when unset),
        C(target_image) (C(agenta_target_image), empty when unset), C(release_map) (the merged release map),
        C(through_stops) (bool), C(db_owner) (the host that migrates this host's database), C(release_dir)
        (C(agenta_release_dir), empty when unset) and C(rehearse) (bool).
    type: dictionary
    required: true
seealso:
  - plugin: agenta.fleet.release_path
    plugin_type: filter
  - plugin: agenta.fleet.upgrade_outcome
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Find the images and the upgrade path
  ansible.builtin.set_fact:
    route: >-
      {{ preflight_result | agenta.fleet.upgrade_route({'host': inventory_hostname, 'target_tag': 'v0.44.4',
         'release_map': {}, 'db_owner': inventory_hostname}) }}

- name: Refuse a route the run may not take
  ansible.builtin.assert:
    that: route.problem | length == 0
    fail_msg: "{{ route.problem }}"
"""

RETURN = r"""
_value:
  description: The route.
  type: dictionary
  contains:
    step:
      description: The check that refused, for example C(Refuse a target that skips a required stop); empty when none.
      type: string
    problem:
      description: One sentence ending in C(Nothing was changed.), or empty.
      type: string
    from_image:
      description: The image the API runs (repository and tag).
      type: string
    to_image:
      description: The image the run goes to, the target image's (or the running image's) repository and the target tag.
      type: string
    from_repo:
      description: The running image's repository, without its tag.
      type: string
    repo:
      description: The repository of the target and of every stop.
      type: string
    path:
      description: What M(agenta.fleet.release_path) returns for the two tags (hops, skipped, problem, note).
      type: dictionary
    stops:
      description: The required stops this run goes through, in order (only the database's owner, with through_stops).
      type: list
      elements: string
    plan:
      description:
        - The chains the pre-flight read took through the running API (C(preflight_result.chains), role variable
          C(preflight_chains_tag)) when that API runs the image the run goes to, as they are that image's plan, so the
          playbook does not ask for it again. Null otherwise.
      type: dictionary
"""

import posixpath
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.agenta.fleet.plugins.filter.release_path import release_path

NOTHING_CHANGED = "Nothing was changed."


def image_tag(image):
    """The tag of repo:tag (the image itself when it has none), as `split(':') | last` reads it."""
    return str(image).rsplit(":", maxsplit=1)[-1]


def image_repo(image):
    """repo:tag without its tag (a registry's port stays)."""
    return re.sub(r":[^:/]+$", "", str(image))


def flag(settings, key):
    """A yes/no setting as Ansible reads one (unset is no); agenta.fleet.upgrade_outcome reads its own with it."""
    return boolean(settings.get(key) or False, strict=False)


def upgrade_route(preflight, settings):
    if not isinstance(preflight, Mapping) or not isinstance(settings, Mapping):
        raise AnsibleFilterError("upgrade_route: expects the pre-flight record and a dictionary of settings.")
    s = dict(settings)
    host = s.get("host") or "this host"
    tag = s.get("target_tag")
    out = {"step": "", "problem": "", "from_image": "", "to_image": "", "from_repo": "", "repo": "", "path": {},
           "stops": [], "plan": None}

    def refuse(step, sentence):
        out.update(step=step, problem="%s %s" % (sentence, NOTHING_CHANGED))
        return out

    owner = s.get("db_owner") or host
    if s.get("release_dir") and owner != host:
        return refuse("Refuse a release folder for a host that shares another host's database",
                      "%s uses the database of %s, and agenta_release_dir is not supported for such hosts yet (only "
                      "the owner's backup would keep the old compose file); leave agenta_release_dir out and update "
                      "their compose files by hand." % (host, owner))

    api_image = preflight.get("api_image") or {}
    lock = preflight.get("run_lock") or {}
    if api_image.get("problem") is not None and not (
            lock.get("held") and api_image.get("env_tag") == (tag if tag is not None else "")):
        return refuse("Require that the API runs the image the env file names",
                      "On %s, %s; apply it (docker compose up -d) or put %s, then run again." % (
                          host, api_image.get("problem"), api_image.get("put_back")))

    current = str(((preflight.get("containers") or {}).get("api") or {}).get("image") or "")
    from_repo = image_repo(current)
    repo = s.get("target_image") or from_repo
    out.update(from_image=current, from_repo=from_repo, repo=repo,
               to_image=("%s:%s" % (repo, tag)) if tag is not None else current)
    folder = posixpath.dirname(from_repo)
    if posixpath.dirname(repo) != folder:
        return refuse("Refuse a target image the compose file cannot name",
                      "agenta_target_image (%s) must be in the registry folder of the image %s runs (%s/), since the "
                      "compose file names the image by AGENTA_API_IMAGE_NAME only; give %s/<name>." % (
                          repo, host, folder, folder))

    path = release_path(image_tag(out["from_image"]), image_tag(out["to_image"]), s.get("release_map") or {})
    out["path"] = path
    through = flag(s, "through_stops")
    if path["problem"] and not through:
        return refuse("Refuse a target that skips a required stop", path["problem"])
    out["stops"] = list(path["skipped"]) if through and s.get("db_owner") == host else []
    if out["stops"] and (s.get("release_dir") or flag(s, "rehearse") or repo != from_repo):
        return refuse("Refuse stops together with a release folder or a rehearsal",
                      "agenta_upgrade_through_stops cannot be combined with agenta_release_dir (the release folder "
                      "holds the compose file of %s only), agenta_rehearse (the rehearsal runs one image) or "
                      "agenta_target_image (the switch to EE is one hop, from a release at or after v0.104.0). "
                      "Upgrade to each stop (%s) on its own, then to %s." % (tag, ", ".join(out["stops"]), tag))
    chains = preflight.get("chains") or {}
    if chains.get("read") and chains.get("error") is None and chains.get("image") == out["to_image"]:
        out["plan"] = dict(chains)
    return out


class FilterModule(object):
    def filters(self):
        return {"upgrade_route": upgrade_route}
