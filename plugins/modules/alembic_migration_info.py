#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alembic_migration_info
short_description: Report where an Agenta deployment's Alembic chains stand
version_added: 0.1.0
description:
  - Reads, for each Alembic chain of an Agenta API image, the revision the database is at, the chain's heads
    in the image, and the revisions still pending. Changes nothing, except that O(pull) may pull the image.
  - Runs inside the API container (C(docker exec)) or in a one-shot container of an image, in one Python
    process, as M(agenta.fleet.alembic_migration) does. Use the new image to see what it would apply.
  - Lists in RV(destructive) what the pending revisions would drop, truncate, delete or rewrite, with the rows
    those tables hold now, read statically from the revision files.
  - When the database is at a revision the image does not know (renumbered or branch builds, or an image older
    than the database), that chain's pending and RV(pending_total) are null and RV(summary) says so.
author:
  - Agenta fleet maintainers (@agenta-fleet)
extends_documentation_fragment:
  - agenta.fleet.docker_target
options:
  chains:
    description:
      - Chains to report, instead of every chain the image has. Known names are V(oss), V(core), V(tracing),
        V(core_oss), V(tracing_oss), V(core_ee), V(tracing_ee).
    type: list
    elements: str
  pull:
    description:
      - With O(image), pull the image first when it is not on the host (the engine's registry login applies); the
        pull is the one thing the module may change, and it is not made in check mode.
      - An image that is not on the host (not pulled, or the pull failed) gives no plan; RV(image_present) is
        false and RV(pull_error) says why.
    type: bool
    default: false
  running_service:
    description:
      - With O(image) and O(compose_project), a Compose service (such as V(api)) whose running container is read
        instead (C(docker exec)) when it runs that very image, the same image ID; a one-shot container of O(image)
        is started otherwise. A tag that now names another image is never read in the old container.
    type: str
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode, where O(pull) pulls nothing.
  diff_mode:
    support: none
    description: The module changes nothing, so there is no difference to show.
  idempotent:
    support: full
    description: It only reads (O(pull) pulls an image once).
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host; Alembic is read inside a container.
seealso:
  - module: agenta.fleet.alembic_migration
"""

EXAMPLES = r"""
- name: Record the revisions before an upgrade
  agenta.fleet.alembic_migration_info:
    container: agenta-oss-gh-api-1
  register: before

- name: What would the new image apply?
  agenta.fleet.alembic_migration_info:
    image: ghcr.io/agenta-ai/agenta-api:v0.113.0
    compose_project: agenta-oss-gh
    env_file: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
  register: plan

- name: Roll back to the recorded revisions later
  agenta.fleet.alembic_migration:
    state: downgraded
    targets: "{{ before.revisions }}"
"""

RETURN = r"""
layout:
  description: Migration layout found in the image (V(g1), V(g2) or V(g3)).
  returned: always
  type: str
  sample: g3
edition:
  description: V(oss), or V(ee) when the image has the EE chains.
  returned: always
  type: str
  sample: oss
image_present:
  description: With O(image), whether the image is on the host (after O(pull)); without it, true.
  returned: always
  type: bool
  sample: true
pulled:
  description: Whether O(pull) pulled the image.
  returned: always
  type: bool
  sample: false
pull_error:
  description: The engine's sentence when O(pull) failed; null otherwise.
  returned: always
  type: str
  sample: null
where:
  description: Where the driver ran.
  returned: always
  type: str
  sample: container agenta-oss-gh-api-1
revisions:
  description: Current revision per chain (V(base) when the chain has none yet); fit for O(agenta.fleet.alembic_migration#module:targets).
  returned: always
  type: dict
  sample: {core: park00000000, core_oss: c05500000001, tracing: park00000000, tracing_oss: 7a5500000001}
pending_total:
  description:
    - Number of revisions pending over all chains; null when a chain's pending cannot be told (the database is
      at a revision the image does not know, or the chain has several heads).
  returned: always
  type: int
  sample: 3
summary:
  description: One sentence on where the chains stand.
  returned: always
  type: str
  sample: "3 revisions are pending: 2 in core_oss, 1 in tracing_oss."
split:
  description:
    - Agenta v0.45's split, when the image reads the split databases (C(agenta_oss_core), C(agenta_oss_tracing)) and
      the server still has the G1 database (C(agenta_oss)) - the upgrade renames them first
      (M(agenta.fleet.database_rename)). The chains are planned as if it had run, the core chain on the G1
      database and a tracing chain on an empty one. Empty otherwise.
  returned: always
  type: list
  elements: dict
  contains:
    database:
      description: The database the image reads.
      type: str
      sample: agenta_oss_core
    from:
      description: The G1 database it is renamed from; null for one the split creates.
      type: str
      sample: agenta_oss
leftover:
  description:
    - One sentence when the G1 database (C(agenta_oss)) holds a revision beside the split one (C(agenta_oss_core)),
      so that one of them is left over, and an upgrade (which refuses it) could migrate the one the deployment does not use.
      Null otherwise.
  returned: always
  type: str
  sample: null
destructive:
  description:
    - What the pending revisions would destroy or rewrite, one entry per revision, table and action; the same
      entries as RV(agenta.fleet.alembic_migration#module:destructive).
  returned: always
  type: list
  elements: dict
  contains:
    chain:
      description: Chain of the revision.
      type: str
      sample: core
    revision:
      description: The pending revision.
      type: str
      sample: 3d4e5f6a7b8c
    database:
      description: Name of the chain's database (C(current_database())).
      type: str
      sample: agenta_oss_core
    table:
      description: Table affected (C(schema.table) outside schema C(public)).
      type: str
      sample: app_db
    action:
      description: V(drop), V(truncate), V(delete) (rows), V(drop_column) or V(rewrite) (rows UPDATEd).
      type: str
      sample: drop
    column:
      description: The column, for V(drop_column); null otherwise.
      type: str
      sample: null
    rows:
      description: Exact row count of the table now; null when the table does not exist (yet).
      type: int
      sample: 12
chains:
  description: One entry per chain, in Agenta's run order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Chain name.
      type: str
      sample: core_oss
    config:
      description: Alembic configuration file of the chain inside the image.
      type: str
      sample: /app/oss/databases/postgres/migrations/core_oss/alembic.ini
    version_table:
      description: Version table of the chain.
      type: str
      sample: alembic_version_oss
    current:
      description: Revision the database is at (null when none).
      type: str
      sample: c05500000001
    heads:
      description: Head revisions of the chain in the image.
      type: list
      elements: str
      sample: [c05500000003]
    pending:
      description: Revisions between current and the head, in order; null when the chain has several heads or
        the database is at a revision the image does not know.
      type: list
      elements: str
      sample: [c05500000002, c05500000003]
    note:
      description: Why pending is null, if it is.
      type: str
      sample: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import build_spec, validate
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_runner import (
    RunError, holder_label, info_result, location_argument_spec, require_docker, run_driver)


def main():
    argument_spec = location_argument_spec()
    argument_spec.update(chains=dict(type="list", elements="str"), pull=dict(type="bool", default=False),
                         running_service=dict(type="str"))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    problem = validate(params, "info")
    if problem:
        module.fail_json(msg=problem)
    require_docker(module)
    image = dict(image_present=True, pulled=False, pull_error=None)
    if params.get("image"):
        try:
            client = docker_access.connect(params["docker_host"], params["timeout"])
            present, pulled, error = docker_access.ensure_image(client, params["image"],
                                                                params["pull"] and not module.check_mode)
        except docker_access.DockerAccessError as exc:
            module.fail_json(msg=str(exc))
        image = dict(image_present=present, pulled=pulled, pull_error=error)
        if present and params.get("running_service") and params.get("compose_project"):
            if docker_access.running_with_image(client, params["compose_project"], params["running_service"],
                                                params["image"]) is not None:
                params = dict(params, image=None, compose_service=params["running_service"])
        if not present:
            module.exit_json(changed=False, layout=None, edition=None, where=None, chains=[], revisions={},
                             pending_total=None, destructive=[], split=[], leftover=None,
                             summary="The image %s is not on this host%s." % (
                                 params["image"], "" if error is None else " (the pull failed: %s)" % error),
                             **image)
    spec = build_spec(params, "info", True, holder_label())
    try:
        result = run_driver(params, spec, cache_create=not module.check_mode)
    except docker_access.DockerAccessError as exc:
        module.fail_json(msg=str(exc))
    except RunError as exc:
        module.fail_json(msg=exc.msg, **exc.extra)

    out = dict(changed=False, **info_result(result))
    out.update(image)
    if result.get("error"):
        module.fail_json(msg=result["error"], **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
