# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: release_path
short_description: The releases an upgrade passes from the deployed release to the target, and the stops it skips
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes the deployed release (the API image's tag), the target tag and a release map (data - which releases are
    required stops and why) and returns the path of the upgrade and, when the target skips a required stop, one
    sentence naming the stop and what to do.
  - Release tags are compared as versions (C(v0.44.4) < C(v0.104.0)). A tag that is not a version (C(latest), a
    branch build) cannot be placed; the path is then unknown and RV(_value.note) says so, without a refusal.
  - A path with a required stop in between is refused unless the run goes through the stops
    (C(agenta_upgrade_through_stops) of the upgrade playbook); RV(_value.hops) lists them in order, the target
    last. The release map's format is in the README (Upgrade paths).
options:
  _input:
    description: The deployed release tag, for example C(v0.43.0).
    type: string
    required: true
  target:
    description: The target release tag (C(agenta_target_tag)).
    type: string
    required: true
  release_map:
    description:
      - Release tag -> C({required_stop, reason, destructive, edition_stop}). C(required_stop) true makes every
        upgrade that crosses the release stop there; C(reason) says why (one clause); C(destructive) marks a release
        whose revisions delete data on purpose (shown in the path); C(edition_stop) names an edition (C(ee)) that a
        deployment may switch to only once it stands at this release or later.
    type: dictionary
    default: {}
  switch_to:
    description:
      - The edition the run switches the deployment to (C(ee) for an OSS deployment upgraded with an EE image), or
        empty. A deployed release older than the map's C(edition_stop) for it is refused in RV(_value.problem).
    type: string
    default: ""
"""

EXAMPLES = r"""
- name: Refuse a target that skips a required stop
  ansible.builtin.assert:
    that: path.problem | length == 0
    fail_msg: "{{ path.problem }}"
  vars:
    path: "{{ 'v0.43.0' | agenta.fleet.release_path('v0.44.5', {'v0.44.4': {'required_stop': true, 'reason': 'it moves the evaluations'}}) }}"
"""

RETURN = r"""
_value:
  description: The path.
  type: dictionary
  contains:
    hops:
      description: The releases the upgrade stops at, in order, ending with the target; empty when unknown.
      type: list
      elements: str
    skipped:
      description: Required stops between the deployed release and the target.
      type: list
      elements: str
    destructive:
      description: Releases on the path (target included) that delete data on purpose.
      type: list
      elements: str
    problem:
      description: Empty when the upgrade may go, else one sentence naming the stop and what to do.
      type: string
    note:
      description: Why the path is unknown (a tag that is not a version), else empty.
      type: string
"""

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def version(tag):
    """(major, minor, patch) of a release tag, or None when it is not a version."""
    match = VERSION.match(str(tag or "").strip())
    return tuple(int(p) for p in match.groups()) if match else None


def release_path(current, target, release_map=None, switch_to=""):
    release_map = release_map or {}
    if not isinstance(release_map, Mapping) or not all(isinstance(v, Mapping) for v in release_map.values()):
        raise AnsibleFilterError("release_path: the release map must map each release tag to "
                                 "{required_stop, reason, destructive}.")
    out = {"hops": [], "skipped": [], "destructive": [], "problem": "", "note": ""}
    low, high = version(current), version(target)
    unknown = [t for t, v in ((current, low), (target, high)) if v is None]
    if unknown and switch_to:
        if low is None:
            out["problem"] = ("The switch of the deployment to %s needs it to stand at a known release, and it runs %s, "
                              "which is not a release version: pin the env file's tag to the release the deployment "
                              "runs (or upgrade it to a release tag first), then switch." % (switch_to.upper(), current))
        else:
            out["problem"] = ("The switch of the deployment to %s needs a release tag as agenta_target_tag, and %s is "
                              "not a release version: name the release to switch at (-e agenta_target_tag=v0.104.0 or "
                              "later)." % (switch_to.upper(), target))
        return out
    if unknown:
        out["note"] = ("The upgrade path from %s to %s cannot be checked against the release map: %s is not a "
                       "release version." % (current, target, " and ".join(str(t) for t in unknown)))
        return out
    releases = []
    for tag, entry in release_map.items():
        v = version(tag)
        if v is None:
            raise AnsibleFilterError("release_path: %r in the release map is not a release version such as "
                                     "v0.104.0." % (tag,))
        releases.append((v, str(tag), entry))
    releases.sort()
    if switch_to:
        stops = [(v, t) for v, t, e in releases if e.get("edition_stop") == switch_to]
        late = [t for v, t in stops if low < v]
        if late:
            out["problem"] = ("The switch of the deployment to %s needs it to stand at %s first (the %s migrations "
                              "build on that release's schema and fail partway otherwise), and it is at %s: upgrade "
                              "it as it is to %s (-e agenta_target_tag=%s, without agenta_target_image), then switch."
                              % (switch_to.upper(), late[-1], switch_to.upper(), current, late[-1], late[-1]))
    between = [(v, t, e) for v, t, e in releases if low < v < high]
    out["skipped"] = [t for _v, t, e in between if e.get("required_stop")]
    out["destructive"] = [t for v, t, e in releases if low < v <= high and e.get("destructive")]
    out["hops"] = out["skipped"] + [str(target)]
    if out["skipped"] and not out["problem"]:
        first = out["skipped"][0]
        reason = next(e for _v, t, e in between if t == first).get("reason") or "the release map says so"
        words = (current, target, first, reason, first, first, target)
        out["problem"] = ("The upgrade from %s to %s skips %s, a required stop (%s); upgrade to %s first "
                          "(-e agenta_target_tag=%s), then on to %s, or let one run go through every stop "
                          "(-e agenta_upgrade_through_stops=true)." % words)
    return out


class FilterModule(object):
    def filters(self):
        return {"release_path": release_path}
