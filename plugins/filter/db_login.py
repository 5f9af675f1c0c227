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

import re
from collections.abc import Mapping
from urllib.parse import unquote

from ansible.errors import AnsibleFilterError

# The variables whose URI may carry the login, in the order they are asked.
URI_NAMES = ("POSTGRES_URI", "POSTGRES_URI_CORE")
DEFAULT_USER = "username"
_URI_LOGIN = re.compile(r"^[A-Za-z0-9+.-]+://([^:/@]+):([^@]*)@")


def uri_login(env):
    """(user, password) of the first URI_NAMES value that carries both, percent-decoded; or None."""
    for name in URI_NAMES:
        match = _URI_LOGIN.match(str(env.get(name) or ""))
        if match:
            return unquote(match.group(1)), unquote(match.group(2))
    return None


def db_login(env):
    """The env file's variables -> {user, password}."""
    if not isinstance(env, Mapping):
        raise AnsibleFilterError("agenta.fleet.db_login expects the env file's variables (a dictionary from "
                                 "agenta.fleet.env_file), not %s." % type(env).__name__)
    from_uri = uri_login(env)
    user = env.get("POSTGRES_USER") or (from_uri[0] if from_uri else DEFAULT_USER)
    password = env.get("POSTGRES_PASSWORD") or (from_uri[1] if from_uri else "")
    return {"user": str(user), "password": str(password)}


class FilterModule(object):
    def filters(self):
        return {"db_login": db_login}
