#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: compose_up
short_description: Point an Agenta deployment's env file at an image and bring its compose project up, in one call
version_added: 0.1.0
description:
  - Sets each of O(env) in the deployment's env file as C(ansible.builtin.lineinfile) would (the last line that
    sets the variable, which is the one Compose reads, is replaced; a variable the file lacks is appended), writing
    the file atomically and keeping its mode and owner.
  - Then runs C(docker compose up -d --quiet-pull) for the project when the file changed (O(up=changed)), always
    (O(up=always), for example after a migration) or never.
  - The env file is read inside the module; only the variables of O(env) appear in the result and the diff, so
    that the file's secrets are never returned. An error of Compose is returned with the env file's secret values
    hidden.
  - The deploy step of the upgrade (C(agenta.fleet.upgrade_agenta)) - the new image tag (and, for the switch from OSS
    to EE, the image name), then the services re-created on it.
author:
  - Agenta fleet maintainers (@agenta-fleet)
extends_documentation_fragment:
  - agenta.fleet.compose_deployment
options:
  env:
    description:
      - Variables to set in the env file, such as C(AGENTA_API_IMAGE_TAG). Names are letters, digits and C(_); values
        are one line. Not for secrets (they are returned and shown in the diff).
    type: dict
    default: {}
  up:
    description:
      - V(changed) runs C(docker compose up -d) when the env file changed; V(always) runs it in any case; V(never)
        only writes the file.
    type: str
    choices: [changed, always, never]
    default: changed
attributes:
  check_mode:
    support: full
    description: Reports what would be written and whether the project would be brought up; changes nothing.
  diff_mode:
    support: full
    description: The lines of O(env) before and after.
  idempotent:
    support: partial
    description: A second call with the same O(env) writes nothing and, with O(up=changed), runs nothing.
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host, with the C(docker compose) plugin (Compose v2).
requirements:
  - Docker with the Compose v2 plugin (C(docker compose)) on the host.
seealso:
  - module: agenta.fleet.compose_release
  - module: agenta.fleet.deployment_info
notes:
  - Compose prints a container's health only with C(--wait); this module does not wait. Check the API afterwards
    (the role C(agenta.fleet.verify) does).
"""

EXAMPLES = r"""
- name: Take the new image tag and re-create the services on it
  agenta.fleet.compose_up:
    compose_project: agenta-oss-gh
    compose_dir: /opt/agenta/hosting/docker-compose/oss
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
    env:
      AGENTA_API_IMAGE_TAG: v0.113.0

- name: Re-create the services after a migration, whatever the env file holds
  agenta.fleet.compose_up:
    compose_dir: /opt/agenta/hosting/docker-compose/oss
    up: always
"""

RETURN = r"""
env_changed:
  description: The variables of O(env) whose line was written (or would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [AGENTA_API_IMAGE_TAG]
before:
  description: The values of the variables of O(env) before (null for one the file lacked).
  returned: always
  type: dict
  sample: {AGENTA_API_IMAGE_TAG: v0.103.5}
up:
  description: Whether C(docker compose up -d) ran (in check mode, whether it would).
  returned: always
  type: bool
  sample: true
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import compose_release as logic
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import EnvFileError, parse_env_file
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import scrub


def main():
    module = AnsibleModule(
        argument_spec=dict(
            compose_dir=dict(type="path", default="/opt/agenta/hosting/docker-compose/oss"),
            compose_file=dict(type="path"),
            env_file=dict(type="path"),
            compose_project=dict(type="str", default="agenta-oss-gh"),
            env=dict(type="dict", default={}),
            up=dict(type="str", choices=["changed", "always", "never"], default="changed"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    p["compose_file"] = p["compose_file"] or os.path.join(p["compose_dir"], "docker-compose.gh.yml")
    p["env_file"] = p["env_file"] or os.path.join(p["compose_dir"], ".env.oss.gh")
    values = dict((str(k), "" if v is None else str(v)) for k, v in p["env"].items())

    try:
        with open(p["env_file"], "rb") as handle:
            text = handle.read().decode("utf-8", "surrogateescape")
    except OSError as exc:
        module.fail_json(msg="The env file %s cannot be read on this host (%s); put it back (or set agenta_env_file "
                             "to where it is) and run again." % (p["env_file"], exc.strerror or exc))
    try:
        env = parse_env_file(text, p["env_file"])
    except EnvFileError:
        env = {}
    before = dict((key, env.get(key)) for key in values)
    try:
        new_text, changed_keys = logic.set_env_values(text, values)
    except ValueError as exc:
        module.fail_json(msg="%s; give agenta.fleet.compose_up plain variable names and one-line values." % exc)
    run_up = p["up"] == "always" or (p["up"] == "changed" and bool(changed_keys))
    result = dict(changed=bool(changed_keys) or run_up, env_changed=changed_keys, before=before, up=run_up)
    if module._diff and changed_keys:
        result["diff"] = dict(
            before_header=p["env_file"], after_header=p["env_file"],
            before="".join("%s=%s\n" % (k, before[k]) for k in changed_keys if before[k] is not None),
            after="".join("%s=%s\n" % (k, values[k]) for k in changed_keys))
    if module.check_mode:
        module.exit_json(**result)

    if changed_keys:
        try:
            logic.write_atomic(p["env_file"], new_text.encode("utf-8", "surrogateescape"), default_mode=0o600)
        except OSError as exc:
            module.fail_json(msg="The env file %s cannot be written on this host (%s); make it writable and run "
                                 "again." % (p["env_file"], exc.strerror or exc), **result)
    if run_up:
        argv = ["docker", "compose", "-p", p["compose_project"], "-f", p["compose_file"], "--env-file", p["env_file"],
                "up", "-d", "--quiet-pull"]
        rc, out, err = module.run_command(argv, cwd=p["compose_dir"])
        if rc != 0:
            lines = [line for line in (err or out or "").splitlines() if line.strip()] or ["no output"]
            module.fail_json(msg="docker compose up -d of project %s failed (exit %d: %s); look at the services' logs "
                                 "(docker compose logs) and the env file %s." % (
                                     p["compose_project"], rc, scrub(lines[-1], env), p["env_file"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
