# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    # The deployment's Compose files and project, as agenta.fleet.compose_release and agenta.fleet.compose_up take them.
    DOCUMENTATION = r"""
options:
  compose_dir:
    description: The deployment's compose folder on the host (the project folder relative paths start from).
    type: path
    default: /opt/agenta/hosting/docker-compose/oss
  compose_file:
    description: The deployment's compose file; empty means C(docker-compose.gh.yml) in O(compose_dir).
    type: path
  env_file:
    description: The deployment's env file; empty means C(.env.oss.gh) in O(compose_dir).
    type: path
  compose_project:
    description: The Compose project of the deployment.
    type: str
    default: agenta-oss-gh
"""
