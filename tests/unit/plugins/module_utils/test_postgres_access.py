# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How far a restore got, read from the restore script's marks (the sign of life of a long restore); what the dump
script is given and how its marks are read (the scripts run against real PostgreSQL in the integration tests)."""

from __future__ import annotations

import os
import subprocess

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import deployment as d, docker_access
from ansible_collections.agenta.fleet.plugins.module_utils.postgres_access import (
    DUMP_SCRIPT, RESTORE_SCRIPT, dump_all, restore_all, restore_progress)


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


class _Unstarted(object):
    """A server whose one-shot container fails before or after it started."""

    def __init__(self, started):
        self.started = started

    def client_run(self, argv, **kwargs):
        exc = docker_access.DockerAccessError("Running pg_restore in a one-shot container of postgres:16 failed: x.")
        exc.started = self.started
        raise exc


@pytest.mark.parametrize("started,unchanged", [(False, True), (None, False)])
def test_a_restore_whose_container_never_started_changed_no_database(tmp_path, started, unchanged):
    (tmp_path / "a.dump").write_bytes(b"x")
    items = [dict(name="a", into="a", file="a.dump", format="custom")]
    with pytest.raises(docker_access.DockerAccessError) as exc:
        restore_all(_Unstarted(started), str(tmp_path), items, 1, 60)
    assert getattr(exc.value, "unchanged", False) is unchanged


def test_counts_of_the_dump_session_are_tagged_with_its_own_database():
    sql = d.counts_sql(None)
    assert "'agenta.fleet:db:' || current_database() || json_build_object(" in sql
    assert d.counts_sql("agenta_oss_core").count("'agenta.fleet:db:agenta_oss_core' || json_build_object(") == 1


class _Server(object):
    """What dump_all asks of postgres_access.Server: one one-shot run, answered with what the script would print."""

    def __init__(self, code, out, err=""):
        self.answer, self.argv = (code, out, err), None

    def client_run(self, argv, **kwargs):
        self.argv = argv
        return self.answer


def test_dump_all_returns_each_dump_and_the_rows_counted_in_its_snapshot():
    out = ('agenta.fleet:db:a{"tables": {"apps": 3}, "versions": {"alembic_version": "r1"}}\n'
           "agenta.fleet:dump:a:12:0\n"
           'agenta.fleet:db:b{"tables": {}, "versions": {}}\n'
           "agenta.fleet:dump:b:4:1\n")
    server = _Server(0, out)
    dumps, measured = dump_all(server, "/b/x", ["a", "b"], "custom", 2, 60)
    assert [(x["name"], x["file"], x["entries"]) for x in dumps] == [("a", "a.dump", 12), ("b", "b.dump", 4)]
    assert measured == {"a": {"tables": {"apps": 3}, "versions": {"alembic_version": "r1"}},
                        "b": {"tables": {}, "versions": {}}}
    # The script gets the format, the jobs, the counts query of the session's own database, then the databases.
    assert server.argv[:3] == ["sh", "-c", DUMP_SCRIPT] and server.argv[4:6] == ["custom", "2"]
    assert "current_database()" in server.argv[6] and server.argv[7:] == ["a", "b"]


@pytest.mark.parametrize("code,out,err,msg", [
    (5, "agenta.fleet:fail:a:count\n", "psql: error: connection refused\n",
     "Counting the rows of database a failed: psql: error: connection refused."),
    (3, "agenta.fleet:fail:a:pg_dump\n", "pg_dump: error: snapshot too old\n",
     "pg_dump of database a failed: pg_dump: error: snapshot too old."),
    (4, "agenta.fleet:fail:a:list\n", "pg_restore: error: not an archive\n",
     "pg_restore --list cannot read the dump of database a: pg_restore: error: not an archive."),
    (0, "agenta.fleet:dump:a:12:0\n", "", "psql gave no row counts of database a."),
])
def test_dump_all_names_the_database_and_the_step_that_failed(code, out, err, msg):
    with pytest.raises(d.DeploymentError) as exc:
        dump_all(_Server(code, out, err), "/b/x", ["a"], "custom", 2, 60)
    assert str(exc.value) == msg


def test_the_dump_runs_inside_the_transaction_that_counted():
    # The session exports its snapshot and counts in it; pg_dump dumps that snapshot from inside the transaction.
    order = ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;", "pg_export_snapshot()", "\\setenv AGENTA_FLEET_SNAPSHOT",
             '"$counts;"', "\\! sh /tmp/agenta-fleet-dump", "COMMIT;"]
    at = [DUMP_SCRIPT.index(piece) for piece in order]
    assert at == sorted(at)
    assert DUMP_SCRIPT.count('--snapshot="$AGENTA_FLEET_SNAPSHOT"') == 2
