# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: upgrade_input
short_description: The first problem of an upgrade run's input, in one sentence
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - C(upgrade-agenta.yml) checks its input per host, on the controller, before it reads any host, in one task.
  - In order, C(agenta_target_tag) must be set; it must be a Docker image tag, C(agenta_upgrade_canary) a positive
    number or percentage, C(migrate_lock_timeout) whole seconds from 0 below C(migrate_timeout) (whole seconds
    from 1); C(agenta_target_image), when given, an image repository without a tag; C(agenta_release_dir), when
    given, a folder on the controller that holds the target release's compose file.
  - Returns an empty string when the input is good, else one sentence naming the input and what to do.
options:
  _input:
    description:
      - C(host) (the inventory name), C(target_tag) (none when unset), C(canary), C(lock_timeout), C(timeout),
        C(target_image) (none or empty when unset), C(release_dir) (empty when unset), C(release_compose) (the
        compose file's path in the release folder, on the controller) and C(compose_name) (the compose file's name).
    type: dictionary
    required: true
seealso:
  - plugin: agenta.fleet.run_targets
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Check this host's input
  ansible.builtin.assert:
    that: problem | length == 0
    fail_msg: "{{ problem }}"
  vars:
    problem: >-
      {{ {'host': inventory_hostname, 'target_tag': agenta_target_tag | default(none),
          'canary': agenta_upgrade_canary | default(1), 'lock_timeout': 300, 'timeout': 1800} | agenta.fleet.upgrade_input }}
"""

RETURN = r"""
_value:
  description: Empty when the input is good, else one sentence naming the input and what to do.
  type: string
"""

import os
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.agenta.fleet.plugins.filter.upgrade_route import NOTHING_CHANGED

TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
CANARY = re.compile(r"^[1-9][0-9]*%?$")
SECONDS_FROM_0 = re.compile(r"^[0-9]+$")
SECONDS_FROM_1 = re.compile(r"^[1-9][0-9]*$")
REPOSITORY = re.compile(r"^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9][a-z0-9._-]*)+$")


def _text(value):
    return "" if value is None else str(value)


def upgrade_input(run):
    if not isinstance(run, Mapping):
        raise AnsibleFilterError("upgrade_input takes a mapping: host, target_tag, canary, lock_timeout, timeout, "
                                 "target_image, release_dir, release_compose, compose_name.")
    host = run.get("host") or "this host"
    tag = run.get("target_tag")
    if not _text(tag).strip():
        return ("agenta_target_tag is not set for %s; name the release to upgrade to (-e agenta_target_tag=v0.44.4, or "
                "in the inventory), since without it the run would only apply the running image's pending revisions. "
                "%s" % (host, NOTHING_CHANGED))
    canary = _text(run.get("canary", 1))
    lock = _text(run.get("lock_timeout", 300))
    timeout = _text(run.get("timeout", 1800))
    good = (TAG.match(_text(tag)) and CANARY.match(canary) and SECONDS_FROM_0.match(lock)
            and SECONDS_FROM_1.match(timeout) and int(lock) < int(timeout))
    if not good:
        return ("agenta_target_tag must be a Docker image tag such as v0.44.4, agenta_upgrade_canary a positive number "
                "or percentage, migrate_lock_timeout whole seconds from 0 below migrate_timeout; got %s, %s, %s and %s. "
                "%s" % (tag, canary, lock, timeout, NOTHING_CHANGED))
    image = run.get("target_image")
    if image is not None and not REPOSITORY.match(_text(image)):
        return ("agenta_target_image must be an image repository without a tag, such as ghcr.io/agenta-ai/agenta-api-ee "
                "(the tag is agenta_target_tag); got %s. %s" % (image, NOTHING_CHANGED))
    release_dir = _text(run.get("release_dir"))
    compose = _text(run.get("release_compose"))
    if release_dir and not os.path.isfile(compose):
        return ("agenta_release_dir (%s) must be a folder on the controller that holds the target release's %s "
                "(Agenta's hosting/docker-compose/oss at %s); %s is not a file. %s" % (
                    release_dir, run.get("compose_name") or os.path.basename(compose), tag, compose, NOTHING_CHANGED))
    return ""


class FilterModule(object):
    def filters(self):
        return {"upgrade_input": upgrade_input}
