# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How far a restore got, read from the restore script's marks (the sign of life of a long restore)."""

from __future__ import annotations

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils.postgres_access import RESTORE_SCRIPT, restore_progress


def test_nothing_restored_yet():
    assert restore_progress(b"", 2) == dict(step="restoring", restored=0, of=2, database=None)


def test_on_the_second_database():
    out = ("agenta.fleet:restoring:agenta_oss_core:agenta_oss_core\n"
           "agenta.fleet:restored:agenta_oss_core:agenta_oss_core:4\n"
           "agenta.fleet:restoring:agenta_oss_tracing:agenta_oss_tracing\n")
    assert restore_progress(out.encode(), 2) == dict(step="restoring", restored=1, of=2, database="agenta_oss_tracing")


def test_all_restored():
    out = ("agenta.fleet:restoring:a:a\nagenta.fleet:restored:a:a:1\n"
           "agenta.fleet:restoring:b:b\nagenta.fleet:restored:b:b:2\n")
    assert restore_progress(out, 2) == dict(step="restoring", restored=2, of=2, database=None)


def test_the_script_marks_each_database_it_begins():
    assert 'echo "agenta.fleet:restoring:$db:$into"' in RESTORE_SCRIPT
