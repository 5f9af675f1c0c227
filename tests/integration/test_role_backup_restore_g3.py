"""agenta.fleet.backup and agenta.fleet.restore on a G3 lab (v0.104.0, damaged by the v0.113.0 upgrade)."""
from __future__ import annotations

import pytest

from backup_restore_cases import *  # noqa: F401,F403  (the shared test cases, collected with this module's lab)


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory("v0.104.0", staging=1, production=1)
    lab.new_release = "v0.113.0"
    return lab
