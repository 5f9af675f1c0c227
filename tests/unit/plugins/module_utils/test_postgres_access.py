# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How far a restore got, read from the restore script's marks (the sign of life of a long restore)."""

from __future__ import annotations

import os
import subprocess

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


def _run_restore_script(tmp_path, present):
    """The restore script under sh with psql and pg_restore replaced by scripts that log their calls (the real
    tools are exercised by the integration target database_restore): `present` dumps exist, the others do not."""
    backup, bin_dir, log = tmp_path / "backup", tmp_path / "bin", tmp_path / "calls"
    backup.mkdir()
    bin_dir.mkdir()
    for name in present:
        (backup / name).write_text("dump")
    for tool, body in (("psql", 'echo "psql $*" >> "$LOG"'),
                       ("pg_restore", 'echo "pg_restore $*" >> "$LOG"; for a; do f=$a; done; [ -e "$f" ]')):
        (bin_dir / tool).write_text("#!/bin/sh\n" + body + "\n")
        (bin_dir / tool).chmod(0o755)
    script = RESTORE_SCRIPT.replace("/backup/", str(backup) + "/")
    argv = ["sh", "-c", script, "agenta-restore", "2", "a", "a", "a.dump", "custom", "b", "b", "b.dump", "custom"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={"PATH": "%s:%s" % (bin_dir, os.environ["PATH"]), "LOG": str(log)})
    return proc, (log.read_text() if log.exists() else "")


def test_a_missing_dump_stops_the_restore_before_any_database_is_dropped(tmp_path):
    proc, calls = _run_restore_script(tmp_path, present=["a.dump"])
    assert proc.returncode == 4
    assert "agenta.fleet:fail:b:list" in proc.stdout
    assert "psql" not in calls and "DROP" not in calls


def test_every_dump_is_listed_then_each_database_is_recreated_and_restored(tmp_path):
    proc, calls = _run_restore_script(tmp_path, present=["a.dump", "b.dump"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = [line.split()[0] + (" --list" if "--list" in line else "") for line in calls.splitlines()]
    assert steps == ["pg_restore --list", "pg_restore --list", "psql", "pg_restore", "psql", "pg_restore"]
    assert "agenta.fleet:restored:b:b:" in proc.stdout
