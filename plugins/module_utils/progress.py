# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Signs of life of a long step: the module notes how far it got in the host's run journal (`progress`), and the
controller's action plugin shows a line per poll. Pure functions, no Ansible."""

from __future__ import annotations

import json
import os
import threading

DEFAULT_INTERVAL = 15  # seconds between two lines on the controller
# Seconds before each look at the job's file; the last one repeats. A look is one `cat` on the host (no module), so
# a step that ends is noticed within a fraction of a second at first, within a second later.
POLL_WAITS = (0.2, 0.2, 0.3, 0.3, 0.5, 0.5, 1.0)
# Databases smaller than this are dumped, migrated and restored in seconds: the step runs as a plain module call
# (one round trip), with no lines. Above it, or when the size is unknown, it runs as a job with signs of life (an
# asynchronous start costs a few round trips, 1-3 s).
DEFAULT_MIN_BYTES = 256 * 1024 * 1024
MISSING = "agenta.fleet:no-job-file"  # what the look prints when the job's file is not there (yet)
JOURNAL = "agenta.fleet:journal"  # the line between the job's file and the run journal in one look's output
# Keys the asynchronous wrapper and async_status add to a module's result: a module run as a job never returns them
# itself (async_status would take a finished job's result that has `started` for a running job).
ASYNC_KEYS = ("ansible_job_id", "started", "finished", "results_file")


def as_job(interval, size_bytes, min_bytes=DEFAULT_MIN_BYTES):
    """Whether a step runs as a job with signs of life: lines asked for (interval > 0) and databases not known to be
    small (size_bytes: the pre-checks' measure, None or 0 when not measured). Anything unreadable counts as unknown."""
    try:
        if float(interval) <= 0:
            return False
    except (TypeError, ValueError):
        pass  # the default interval
    try:
        size = int(size_bytes)
        return size <= 0 or size >= int(min_bytes)  # 0: not measured (no database is empty on disk)
    except (TypeError, ValueError):
        return True


def peek_command(job_file, journal=None):
    """The shell command of one look: the head of the job's file (enough to tell a running job; the result itself
    is read once, by async_status), and the run journal after a JOURNAL line when asked. Arguments are quoted by
    the caller (the connection's shell)."""
    cmd = "head -c 200 %s 2>/dev/null || echo %s" % (job_file, MISSING)
    if journal:
        cmd += "; echo; echo %s; cat %s 2>/dev/null" % (JOURNAL, journal)
    return cmd


def read_peek(stdout):
    """One look's output -> (state of the job: 'missing', 'running' or 'finished'; the run journal as a dict, {}
    when not asked for or unreadable). async_wrapper writes {"started": true, "finished": false, ...} while the
    module runs, then (atomically) the module's result or its failure."""
    text = "\n" + (stdout or "")
    journal = {}
    marker = "\n%s\n" % JOURNAL
    if marker in text:
        text, _sep, rest = text.partition(marker)
        try:
            journal = json.loads(rest) if rest.strip() else {}
        except ValueError:
            journal = {}
        if not isinstance(journal, dict):
            journal = {}
    text = text.strip()
    if text == MISSING:
        return "missing", journal
    if not text or (text.startswith('{"started": true') and '"finished": false' in text):
        return "running", journal
    return "finished", journal


def folder_bytes(path):
    """Bytes of the regular files under path (0 when it is gone)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def human(size):
    """1536 -> '1.5 KiB'."""
    size = float(size or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024
    return "%.1f TiB" % size


def clock(seconds):
    """95 -> '1m35s'."""
    seconds = int(max(seconds or 0, 0))
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm%02ds" % divmod(seconds, 60)
    hours, rest = divmod(seconds, 3600)
    return "%dh%02dm" % (hours, rest // 60)


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def line(host, step, elapsed, journal):
    """The controller's line for one poll: '<host>: <step>, 1m35s so far' and what the module noted in the run
    journal's `progress`: bytes written by a dump (', 120.0 MiB written (the databases are 4.0 GiB on the server)'),
    revisions applied by a migration (', chain core: 3 of 12 revisions applied') or databases restored
    (', 1 of 2 databases restored, now agenta_oss_core'). journal: the host's run journal as read, or {}."""
    text = "%s: %s, %s so far" % (host, step, clock(elapsed))
    progress = (journal or {}).get("progress") if isinstance(journal, dict) else None
    if not isinstance(progress, dict):
        return text
    if progress.get("step") == "migrating" and _count(progress.get("applied")) and _count(progress.get("of")):
        text += ", chain %s: %d of %d revision%s applied" % (
            progress.get("chain") or "?", progress["applied"], progress["of"], "" if progress["of"] == 1 else "s")
        return text
    if progress.get("step") == "restoring" and _count(progress.get("restored")) and _count(progress.get("of")):
        text += ", %d of %d database%s restored" % (progress["restored"], progress["of"],
                                                    "" if progress["of"] == 1 else "s")
        if progress.get("database"):
            text += ", now %s" % progress["database"]
        return text
    if isinstance(progress.get("bytes"), int):
        text += ", %s written" % human(progress["bytes"])
        if isinstance(progress.get("of_bytes"), int) and progress["of_bytes"] > 0:
            text += " (the databases are %s on the server)" % human(progress["of_bytes"])
        if progress.get("database"):
            text += ", now %s" % progress["database"]
    return text


def changes_watch(note, read):
    """A run_oneshot watch(container) that notes progress=read(container) in the run journal through
    note(**fields) when it is not None and differs from the last one noted (the logs are read every poll, the
    journal is written only when the step moved)."""
    seen = [None]

    def watch(container):
        now = read(container)
        if now is not None and now != seen[0]:
            seen[0] = now
            note(progress=now)
    return watch


class Watcher(threading.Thread):
    """Notes the bytes under folder in the run journal every `every` seconds until stopped (note: a function
    note(**fields), e.g. run_journal.note bound to the journal and run). Never raises into the module."""

    def __init__(self, note, folder, of_bytes, every=2.0):
        super(Watcher, self).__init__()
        self.daemon = True
        self.note, self.folder, self.of_bytes, self.every = note, folder, of_bytes, every
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(self.every):
            try:
                self.note(progress=dict(step="dumping", bytes=folder_bytes(self.folder), of_bytes=self.of_bytes))
            except Exception:  # pylint: disable=broad-except  # a sign of life must not break the backup
                pass

    def stop(self):
        self.stopped.set()
        self.join(10)
        if self.is_alive():  # still writing: leave its last note
            return
        try:
            self.note(progress=None)
        except Exception:  # pylint: disable=broad-except
            pass
