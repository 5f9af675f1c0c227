# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: env_file
short_description: Read a Compose env file's text into a dictionary
version_added: 0.1.0
author: agenta.fleet contributors
description:
  - Parses the text of a deployment's compose env file (for example C(.env.oss.gh)) the way Docker Compose reads
    it, with the same parser the collection's modules use, and returns its variables.
  - "C(KEY=VALUE) lines; blank lines and lines starting with C(#) are skipped; an optional C(export) before the name;
    spaces around C(=) are ignored."
  - "Single-quoted values are literal; double-quoted values understand the escapes C(\\n), C(\\t), C(\\r), C(\\\")
    and C(\\\\) and expand C(${VAR}); quoted values may span several lines."
  - "Unquoted values lose a trailing comment (a C(#) after a space or tab) and their trailing spaces. Unquoted and
    double-quoted values are interpolated as Compose does, from the names defined above them in the file (not from
    the controller's or the host's environment): C($$) is one C($); C($VAR) and C(${VAR}); C(${VAR-x}) and
    C(${VAR:-x}) (x when unset, or unset or empty; x may hold references); C(${VAR+x}) and C(${VAR:+x}); C(${VAR?msg})
    and C(${VAR:?msg}) refuse the file. Tested against C(docker compose config)."
  - The last line of a name wins. A bare name without C(=) is skipped (Compose would take it from its shell).
  - A line that is not C(KEY=VALUE), an invalid name, an unterminated quote or C(${) or a required variable that
    is missing fails with one sentence naming the line (and O(source)); a password in a C(scheme://user:password@) URI of that sentence is masked.
  - "The result usually holds passwords: use it only in tasks with C(no_log: true)."
positional: source
options:
  _input:
    description: The env file's text, for example the C(content) of M(ansible.builtin.slurp) after C(b64decode).
    type: string
    required: true
  source:
    description: What to call the file in an error message, usually its path.
    type: string
    default: env file
seealso:
  - plugin: agenta.fleet.db_login
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Read the env file
  ansible.builtin.slurp:
    src: /opt/agenta/hosting/docker-compose/oss/.env.oss.gh
  register: env_raw
  no_log: true

- name: Keep its variables
  ansible.builtin.set_fact:
    env: "{{ env_raw.content | b64decode | agenta.fleet.env_file('/opt/agenta/hosting/docker-compose/oss/.env.oss.gh') }}"
  no_log: true

# "export AGENTA_PORT=8080 # the API\nPOSTGRES_PASSWORD='pa ss#word'\nURI=postgresql://u@${HOST:-db}/x\n"
# gives {"AGENTA_PORT": "8080", "POSTGRES_PASSWORD": "pa ss#word", "URI": "postgresql://u@db/x"}
"""

RETURN = r"""
_value:
  description: Variable name -> value (a string, possibly empty), in the order of the file.
  type: dictionary
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import EnvFileError, mask, parse_env_file


def env_file(text, source="env file"):
    """The env file's text -> {name: value}, as Compose reads it."""
    if text is None:
        text = ""
    if isinstance(text, bytes):
        text = to_text(text, errors="surrogate_or_strict")
    if not isinstance(text, str):
        raise AnsibleFilterError("agenta.fleet.env_file expects the env file's text (a string), not %s."
                                 % type(text).__name__)
    try:
        return parse_env_file(text, to_text(source or "env file"))
    except EnvFileError as exc:
        raise AnsibleFilterError(mask(str(exc)))


class FilterModule(object):
    def filters(self):
        return {"env_file": env_file}
