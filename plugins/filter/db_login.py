# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: db_login
short_description: The database login of an Agenta deployment, from its env file's variables
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Takes the variables of a deployment's env file (from P(agenta.fleet.env_file#filter)) and returns the
    PostgreSQL login the roles use.
  - The user is C(POSTGRES_USER); when it is empty or missing, the user of the first of C(POSTGRES_URI),
    C(POSTGRES_URI_CORE) that carries a login (C(scheme://user:password@...)); else C(username), the default of
    Agenta's compose files.
  - The password is C(POSTGRES_PASSWORD); when it is empty or missing, the password of that same URI; else empty.
  - The user and password taken from a URI are percent-decoded (C(p%40ss) is C(p@ss); a C(+) stays a C(+)), as
    SQLAlchemy and libpq read them.
  - A URI without a password (C(scheme://user@host/db)) carries no login.
  - "The result holds the password: use it only in tasks with C(no_log: true)."
options:
  _input:
    description: Variable name -> value, as returned by P(agenta.fleet.env_file#filter).
    type: dictionary
    required: true
seealso:
  - plugin: agenta.fleet.env_file
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Settle the database login
  ansible.builtin.set_fact:
    login: "{{ env_raw.content | b64decode | agenta.fleet.env_file(env_path) | agenta.fleet.db_login }}"
  no_log: true

# {"POSTGRES_URI_CORE": "postgresql+asyncpg://bob:p%40ss@postgres:5432/agenta_oss_core"} gives
# {"user": "bob", "password": "p@ss"}; {"POSTGRES_PASSWORD": "s3cret"} gives {"user": "username", "password": "s3cret"}.
"""

RETURN = r"""
_value:
  description: The login.
  type: dictionary
  contains:
    user:
      description: The database role.
      type: string
    password:
      description: Its password; empty when the env file has none.
      type: string
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.agenta.fleet.plugins.module_utils import deployment

# Kept here for callers that read them from the filter (the rule itself lives in module_utils/deployment.py).
URI_NAMES = deployment.URI_NAMES
DEFAULT_USER = deployment.DEFAULT_USER
uri_login = deployment.uri_login


def db_login(env):
    """The env file's variables -> {user, password}."""
    if not isinstance(env, Mapping):
        raise AnsibleFilterError("agenta.fleet.db_login expects the env file's variables (a dictionary from "
                                 "agenta.fleet.env_file), not %s." % type(env).__name__)
    return deployment.db_login(env)


class FilterModule(object):
    def filters(self):
        return {"db_login": db_login}
