#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_info
short_description: Read and check one agenta.fleet backup before it is restored, in one call
version_added: 0.1.0
description:
  - Finds the backup's manifest (O(manifest), or the one C(latest) in O(backup_dir) points to), reads it, checks that
    it is a manifest of C(agenta.fleet.backup) written for O(host), and compares the sha256 of every file it names
    (the dumps, the env file, the compose file) with the manifest. The first problem is RV(problem), one sentence.
  - Also reads what the upgrade left next to the manifest, the record of the databases it made
    (C(database-rename.json), written by M(agenta.fleet.database_rename) or the switch to EE) and whether a record
    of a PostgreSQL move (C(postgres-move.json)) is there, and parses the backup's env file as Docker Compose reads it.
  - Changes nothing. The backup's env file stays in the module; only C(AGENTA_API_IMAGE_TAG) and C(AGENTA_PORT) are
    returned.
author:
  - Agenta fleet maintainers (@agenta-fleet)
options:
  backup_dir:
    description: The folder of backups; its C(latest) is read when O(manifest) is empty.
    type: path
    default: /var/backups/agenta
  manifest:
    description: The C(manifest.json) of the backup to read; empty means C(latest)'s.
    type: path
  host:
    description: The inventory name the manifest must name.
    type: str
    required: true
  allow_other_host:
    description: Accept a manifest written for another host.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
  idempotent:
    support: full
    description: It only reads.
  platform:
    platforms: posix
    support: full
    description: Runs on the host that holds the backup.
seealso:
  - module: agenta.fleet.database_restore
  - module: agenta.fleet.deployment_info
"""

EXAMPLES = r"""
- name: Read the latest backup of this host
  agenta.fleet.backup_info:
    backup_dir: /var/backups/agenta
    host: "{{ inventory_hostname }}"
  register: backup

- name: Refuse a backup that cannot be restored
  ansible.builtin.assert:
    that: backup.problem is none
    fail_msg: "{{ backup.problem | default('', true) }}"
"""

RETURN = r"""
problem:
  description:
    - The first reason the backup cannot be restored, in one sentence (a missing manifest, one that is not a manifest
      of C(agenta.fleet.backup) or names another host, a file that is missing or does not match its checksum, a record
      that is no JSON, an env file Compose would not read); null when there is none.
  returned: always
  type: str
  sample: null
path:
  description: The manifest read (C(latest) resolved to the backup's folder); the path asked for when it is missing.
  returned: always
  type: str
  sample: /var/backups/agenta/20261205T071250Z/manifest.json
folder:
  description: The backup's folder, the manifest's.
  returned: always
  type: str
  sample: /var/backups/agenta/20261205T071250Z
manifest:
  description: The manifest as written by C(agenta.fleet.backup) (null when it could not be read).
  returned: always
  type: dict
  sample: {tool: agenta.fleet.backup, host: staging-1, image_tag: v0.43.0}
made:
  description:
    - The record of the databases the upgrade made (C(database-rename.json)), null when there is none; C(state) is
      C(switch to ee) for the switch to EE.
  returned: always
  type: dict
  sample: {state: done, renamed: {agenta_oss: agenta_oss_core}, created: [agenta_oss_tracing]}
postgres_move:
  description: The path of the record of a PostgreSQL move next to the manifest, null when there is none.
  returned: always
  type: str
  sample: null
env:
  description: C(AGENTA_API_IMAGE_TAG) and C(AGENTA_PORT) of the backup's env file (absent ones left out).
  returned: always
  type: dict
  sample: {AGENTA_API_IMAGE_TAG: v0.43.0}
"""

import os
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import backup_set
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import EnvFileError, parse_env_file

SHOWN_SETTINGS = ("AGENTA_API_IMAGE_TAG", "AGENTA_PORT")


def read(p):
    """The result of the module (pure file-system work)."""
    path, shown = backup_set.manifest_to_read(p["backup_dir"], p["manifest"] or "")
    out = dict(changed=False, problem=None, path=shown, folder=os.path.dirname(shown), manifest=None, made=None,
               postgres_move=None, env={})
    try:
        regular = stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        regular = None
    if regular is None or not regular:
        # A path that exists but is no file is named as found; a missing one as asked for.
        named = path if regular is not None else shown
        out.update(path=named, problem="There is no backup manifest at %s on %s, so nothing was restored."
                   % (named, p["host"]))
        return out
    out.update(path=path, folder=os.path.dirname(path))
    content = backup_set.read_json(path)
    out["manifest"] = content if isinstance(content, dict) else None
    problem = backup_set.manifest_problem(content, path, p["host"], p["allow_other_host"])
    if not problem:
        problem = backup_set.checksum_problem(out["folder"], backup_set.expected_sums(content))
    record = os.path.join(out["folder"], "database-rename.json")
    if not problem and os.path.lexists(record):
        made = backup_set.read_json(record)
        if isinstance(made, dict):
            out["made"] = made
        else:
            problem = ("The record %s of the databases the upgrade made is not a JSON object, so nothing was restored; "
                       "repair it (or remove it, and drop those databases by hand) and run the restore again." % record)
    moved = os.path.join(out["folder"], "postgres-move.json")
    if os.path.lexists(moved):
        out["postgres_move"] = moved
    if not problem:
        env_path = os.path.join(out["folder"], "env_file")
        try:
            with open(env_path, "rb") as handle:
                env = parse_env_file(handle.read().decode("utf-8", "surrogateescape"), env_path)
            out["env"] = dict((k, env[k]) for k in SHOWN_SETTINGS if k in env)
        except EnvFileError as exc:
            problem = str(exc)
        except (IOError, OSError) as exc:
            problem = "The env file %s of the backup cannot be read (%s), so nothing was restored." % (
                env_path, exc.strerror or exc)
    out["problem"] = problem or None
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backup_dir=dict(type="path", default="/var/backups/agenta"),
            manifest=dict(type="path"),
            host=dict(type="str", required=True),
            allow_other_host=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**read(module.params))


if __name__ == "__main__":
    main()
