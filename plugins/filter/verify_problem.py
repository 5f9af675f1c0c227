# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: verify_problem
short_description: The first thing wrong with a deployment after an upgrade or a rollback, from one read of it
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes what M(agenta.fleet.deployment_info) read on a host (in the role C(agenta.fleet.verify)) and returns the
    first problem, as one sentence saying what is wrong and what to do; an empty string when there is none.
  - In order, the env file, the backup manifest (with O(settings.manifest)), the env file's syntax, the key
    services' containers, the one-shot migration service's exit, the API's health check, and the image the API
    runs (with O(settings.image), the image the database was migrated with). The chains and the row counts are
    checked after it, by the role.
options:
  _input:
    description: The result of M(agenta.fleet.deployment_info) with C(health=true).
    type: dictionary
    required: true
  settings:
    description:
      - C(host) (the inventory name), C(compose_project), C(env_file), C(manifest) (empty for none), C(services),
        C(api_service), C(alembic_service), C(health_retries) and C(image) (empty for none).
    type: dictionary
    required: true
"""

EXAMPLES = r"""
- name: Require a deployment that runs as it should
  ansible.builtin.assert:
    that: problem | length == 0
    fail_msg: "{{ problem }}"
  vars:
    problem: "{{ read | agenta.fleet.verify_problem({'host': inventory_hostname, 'env_file': env_file}) }}"
"""

RETURN = r"""
_value:
  description: One sentence, or an empty string when nothing is wrong.
  type: string
"""


def verify_problem(read, settings):
    s = dict(settings or {})
    host = s.get("host", "this host")
    env_file = s.get("env_file")
    if ((read.get("files") or {}).get(env_file) or {}).get("kind") != "file":
        return ("The env file %s is missing on %s; put it back (or set agenta_env_file to where it is) and verify "
                "again." % (env_file, host))
    manifest = s.get("manifest") or ""
    if manifest and not (read.get("manifest") or {}).get("exists"):
        return ("The backup manifest %s is missing on %s; give the manifest.json of the backup taken before the "
                "upgrade in verify_manifest." % (manifest, host))
    error = (read.get("env") or {}).get("error")
    if error is not None:
        return error

    containers = read.get("containers") or {}
    for service in s.get("services") or []:
        found = containers.get(service)
        if found is None:
            return ("Compose project %s has no %s container on %s; bring the deployment up (docker compose up -d) "
                    "and verify again." % (s.get("compose_project"), service, host))
        if found.get("state") != "running":
            return ("The %s container %s on %s is %s, not running; look at its logs (docker compose logs %s), start "
                    "it and verify again." % (service, found.get("name"), host, found.get("state"), service))

    alembic_service = s.get("alembic_service")
    alembic = containers.get(alembic_service)
    if alembic is not None and not (alembic.get("state") == "exited" and alembic.get("exit_code") == 0):
        state = alembic.get("state")
        if state == "exited":
            state = "%s with exit code %s" % (state, alembic.get("exit_code"))
        return ("The %s container %s on %s is %s, not exited with 0; read its logs (docker compose logs %s) and "
                "verify again." % (alembic_service, alembic.get("name"), host, state, alembic_service))

    health = read.get("health") or {}
    status = health.get("status") or 0
    if status != 200:
        answer = status if status > 0 else "nothing (%s)" % (health.get("error") or "no answer")
        tries = health.get("tries") or int(s.get("health_retries") or 0) + 1
        return ("The API health check %s on %s answered %s instead of 200 after %d tries; look at the api logs "
                "(docker compose logs api) and verify again." % (health.get("url"), host, answer, tries))

    image = s.get("image") or ""
    api_service = s.get("api_service")
    api = containers.get(api_service) or {}
    if image and (api.get("image") or "") != image:
        return ("The %s container %s on %s runs %s, not %s, the image the database was migrated with; re-create it on "
                "that image (docker compose up -d) and verify again." % (
                    api_service, api.get("name") or "", host, api.get("image") or "no image", image))
    return ""


class FilterModule(object):
    def filters(self):
        return {"verify_problem": verify_problem}
