# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Signs of life of a long step: the module notes how far it got in the host's run journal (`progress`), and the
controller's action plugin shows a line per poll. Pure functions, no Ansible."""

from __future__ import annotations

import os
import threading

DEFAULT_INTERVAL = 15  # seconds between two lines on the controller
POLL_WAITS = (0.3, 0.5, 1.0, 2.0, 3.0)  # seconds before each poll of the job; the last one repeats


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
