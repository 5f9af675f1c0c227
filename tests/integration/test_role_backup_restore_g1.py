"""agenta.fleet.backup and agenta.fleet.restore on a G1 lab (v0.43.0, damaged by the v0.44.4 upgrade)."""
from __future__ import annotations

import pytest

from backup_restore_cases import *  # noqa: F401,F403  (the shared test cases, collected with this module's lab)


@pytest.fixture(scope="module")
def lab(lab_factory):
    lab = lab_factory("v0.43.0", staging=1, production=1)
    lab.new_release = "v0.44.4"
    return lab
