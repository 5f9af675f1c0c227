# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The signs of life of a long step: the controller's line, and the module's watcher of the dump folder."""

from __future__ import annotations

import time

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import progress


@pytest.mark.parametrize("size,text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 << 30, "5.0 GiB")])
def test_human(size, text):
    assert progress.human(size) == text


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (59.9, "59s"), (95, "1m35s"), (3725, "1h02m"), (-3, "0s")])
def test_clock(seconds, text):
    assert progress.clock(seconds) == text


def test_line_with_the_time_only_when_the_journal_says_nothing():
    assert progress.line("staging-1", "backing up the databases", 31, {}) == (
        "staging-1: backing up the databases, 31s so far")
    assert progress.line("staging-1", "x", 1, {"progress": None}) == "staging-1: x, 1s so far"
    assert progress.line("staging-1", "x", 1, {"unreadable": True}) == "staging-1: x, 1s so far"


def test_line_with_the_bytes_the_module_noted():
    journal = {"progress": {"step": "dumping", "bytes": 3 << 20, "of_bytes": 4 << 30}}
    assert progress.line("staging-1", "backing up the databases", 95, journal) == (
        "staging-1: backing up the databases, 1m35s so far, 3.0 MiB written (the databases are 4.0 GiB on the "
        "server)")


def test_the_watcher_notes_the_bytes_and_clears_them_at_the_end(tmp_path):
    notes = []
    (tmp_path / "a.dump").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 24)
    watcher = progress.Watcher(lambda **fields: notes.append(fields), str(tmp_path), 5000, every=0.05)
    watcher.start()
    deadline = time.monotonic() + 5
    while not notes and time.monotonic() < deadline:
        time.sleep(0.02)
    watcher.stop()
    assert notes[0] == {"progress": {"step": "dumping", "bytes": 1024, "of_bytes": 5000}}
    assert notes[-1] == {"progress": None}
    assert not watcher.is_alive()


def test_the_watcher_survives_a_note_that_fails(tmp_path):
    def note(**_fields):
        raise OSError("disk full")
    watcher = progress.Watcher(note, str(tmp_path / "gone"), 0, every=0.01)
    watcher.start()
    time.sleep(0.1)
    watcher.stop()
    assert not watcher.is_alive()


def test_line_with_the_revisions_a_migration_applied():
    journal = {"progress": {"step": "migrating", "chain": "core", "applied": 3, "of": 12}}
    assert progress.line("staging-1", "migrating", 95, journal) == (
        "staging-1: migrating, 1m35s so far, chain core: 3 of 12 revisions applied")
    journal = {"progress": {"step": "migrating", "chain": "oss", "applied": 0, "of": 1}}
    assert progress.line("h", "migrating", 5, journal) == "h: migrating, 5s so far, chain oss: 0 of 1 revision applied"


def test_line_with_the_databases_a_restore_finished():
    journal = {"progress": {"step": "restoring", "restored": 1, "of": 2, "database": "agenta_oss_tracing"}}
    assert progress.line("staging-1", "restoring the databases", 20, journal) == (
        "staging-1: restoring the databases, 20s so far, 1 of 2 databases restored, now agenta_oss_tracing")


@pytest.mark.parametrize("noted", [None, "garbage", {"step": "migrating", "applied": "3", "of": 12},
                                   {"step": "restoring", "restored": True, "of": 2}])
def test_line_ignores_what_it_cannot_read(noted):
    assert progress.line("h", "migrating", 1, {"progress": noted}) == "h: migrating, 1s so far"


def test_a_look_at_a_running_job_and_its_journal():
    out = ('{"started": true, "finished": false, "ansible_job_id": "j1.2"}\n%s\n{"progress": {"bytes": 5}}'
           % progress.JOURNAL)
    assert progress.read_peek(out) == ("running", {"progress": {"bytes": 5}})


@pytest.mark.parametrize("out,state", [
    (progress.MISSING + "\n", "missing"),
    ("", "running"),  # the file is being renamed into place
    ('{"changed": true, "manifest": "/var/backups/agenta/x/manifest.json", "invocation": {"module_a', "finished"),
    ('{"msg": "Timeout exceeded", "failed": true, "child_pid": 7}', "finished"),
    ('{"failed": true, "cmd": "/usr/bin/python3 /root/.ansible/tmp/x", "data": "", "stderr": "Traceback', "finished"),
])
def test_a_look_tells_the_state_of_the_job(out, state):
    assert progress.read_peek(out) == (state, {})


def test_a_journal_that_cannot_be_read_gives_the_time_only():
    out = '{"started": true, "finished": false}\n\n%s\n{not json' % progress.JOURNAL
    assert progress.read_peek(out) == ("running", {})


def test_the_look_reads_the_journal_only_when_asked():
    assert progress.JOURNAL not in progress.peek_command("'/root/.ansible_async/j1'")
    cmd = progress.peek_command("'/root/.ansible_async/j1'", "'/var/lib/agenta-fleet/run.json'")
    assert cmd.startswith("head -c 200 '/root/.ansible_async/j1' 2>/dev/null || echo ") and cmd.endswith(
        "; echo; echo %s; cat '/var/lib/agenta-fleet/run.json' 2>/dev/null" % progress.JOURNAL)


@pytest.mark.parametrize("interval,size,min_bytes,job", [
    (15, 15 * 2 ** 20, progress.DEFAULT_MIN_BYTES, False),  # a small deployment: one plain module call
    (15, 4 * 2 ** 30, progress.DEFAULT_MIN_BYTES, True),  # 4 GiB: a job with signs of life
    (15, None, progress.DEFAULT_MIN_BYTES, True),  # not measured (the module used on its own): lines
    (15, "garbage", progress.DEFAULT_MIN_BYTES, True),
    (1, "1024", 0, True),  # the tests' way to see lines on a tiny database
    (0, 4 * 2 ** 30, progress.DEFAULT_MIN_BYTES, False),  # lines turned off
    ("0", None, 0, False),
    ("soon", None, 0, True),  # an unreadable interval is the default one
])
def test_which_steps_run_as_a_job(interval, size, min_bytes, job):
    assert progress.as_job(interval, size, min_bytes) is job


def test_a_size_of_zero_is_a_database_that_was_not_measured():
    assert progress.as_job(15, 0) is True


def test_a_log_watch_notes_a_step_once_and_nothing_before_the_first():
    noted, said = [], iter([None, {"applied": 1}, {"applied": 1}, {"applied": 2}, None])
    watch = progress.changes_watch(lambda **fields: noted.append(fields), lambda container: next(said))
    for _poll in range(5):
        watch("container")
    assert noted == [{"progress": {"applied": 1}}, {"progress": {"applied": 2}}]
