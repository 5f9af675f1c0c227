# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of agenta.fleet.deployment_restore: the module runs on the host as an asynchronous job, and every
agenta_progress_interval seconds (default 15) the controller shows the time so far and the databases restored so
far and the one it is on (see plugin_utils/progress_action.py)."""

from __future__ import annotations

from ansible_collections.agenta.fleet.plugins.plugin_utils.progress_action import ProgressAction


class ActionModule(ProgressAction):
    STEP = "restoring the databases"
