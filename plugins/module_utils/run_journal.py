# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run journal of a host: one JSON file that is both the host's run lock and the record of the run that holds
it (which run, whose, since when, which phase, which backup, which migration). A finished run moves it to
last-run.json. Written atomically (a new file, then rename), 0600 in a 0700 folder."""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
import time

DEFAULT_PATH = "/var/lib/agenta-fleet/run.json"
LAST_NAME = "last-run.json"
_NOTE_LOCK = threading.Lock()


def outlive_connection():
    """Let a long step (a dump, a migration, a restore) go on when the connection that started it ends: SSH without
    pipelining runs the module on a terminal whose hang-up (SIGHUP) would end it mid-step and leave the journal at
    'migrating'. The step finishes and notes how it ended in the journal; the next run reads it there."""
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    except (AttributeError, ValueError):  # no SIGHUP on this platform, or not the main thread
        pass


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parse_time(text):
    """'2026-12-03T08:00:00Z' -> seconds since the epoch, or None."""
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except (TypeError, ValueError):
        return None


def read(path):
    """The journal at path, {} when there is none; a file that is not a JSON object reads as {'unreadable': True}."""
    try:
        with open(path, "rb") as handle:
            content = json.loads(handle.read().decode("utf-8"))
    except (IOError, OSError):
        return {}
    except ValueError:
        return {"unreadable": True}
    return content if isinstance(content, dict) else {"unreadable": True}


def write(path, journal, exclusive=False):
    """Atomically; exclusive=True fails with OSError (EEXIST) when a journal is there already."""
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        os.makedirs(folder, 0o700)
    data = (json.dumps(journal, indent=4, sort_keys=True) + "\n").encode("utf-8")
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return
    tmp = "%s.%d.%d.tmp" % (path, os.getpid(), threading.current_thread().ident or 0)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.rename(tmp, path)


def note(path, run_id, **fields):
    """Add fields (and the time) to the journal of run_id; nothing when the journal is absent or another run's.
    Modules call it at the steps an interrupted run must be traced by (backup written, migration started)."""
    if not path or not run_id:
        return False
    with _NOTE_LOCK:  # a module's progress thread notes too
        return _note(path, run_id, fields)


def noter(path, run_id):
    """note(**fields) bound to the journal of run_id, for a module's progress callbacks; None without a journal."""
    if not path or not run_id:
        return None

    def bound(**fields):
        return note(path, run_id, **fields)
    return bound


def _note(path, run_id, fields):
    journal = read(path)
    if journal.get("run_id") != run_id:
        return False
    journal.update(fields)
    journal["updated"] = now()
    steps = journal.setdefault("steps", [])
    if fields.get("phase"):
        steps.append({"phase": fields["phase"], "time": journal["updated"]})
    try:
        write(path, journal)
    except (IOError, OSError):
        # The run goes on; the lock (taken earlier in the same folder) still names it.
        return False
    return True


class LockHeld(Exception):
    """Another live run holds the lock: msg is the one sentence to show, held_by that run's journal."""

    def __init__(self, msg, held_by=None):
        super(LockHeld, self).__init__(msg)
        self.msg, self.held_by = msg, held_by


def lock_argument_spec():
    """The options of a run lock besides its path and run_id: agenta.fleet.run_lock's own, and the suboptions of
    agenta.fleet.database_backup's lock (taken as its first step)."""
    return dict(
        playbook=dict(type="str", default="upgrade"),
        owner=dict(type="str", default=""),
        phase=dict(type="str", default=""),
        details=dict(type="dict", default={}),
        stale_after=dict(type="int", default=21600),
        break_lock=dict(type="bool", default=False),
    )


def lock_problem(run_id, stale_after, stale_option="stale_after"):
    """The one sentence that refuses a lock's options, or ''; stale_option is how the caller names stale_after."""
    if not (run_id or "").strip():
        return "run_id must name the run; it is empty."
    if stale_after < 60:
        return "%s must be at least 60 seconds, not %s." % (stale_option, stale_after)
    return ""


def acquire(path, run_id, playbook="upgrade", owner="", phase="", details=None, stale_after=21600, break_lock=False,
            check_mode=False):
    """Take (or update) the lock of run_id at path. -> dict(journal, previous, took_over): the journal as written (in
    check mode, as it would be), the journal of a dead run taken over and one sentence naming it ('' when none).
    Raises LockHeld when another live run holds it, OSError when the file cannot be written."""
    details = details or {}
    out = dict(journal={}, previous=None, took_over="")
    existing = read(path)
    if existing.get("run_id") == run_id:
        existing.update(details)
        existing["updated"] = now()
        if phase and phase != existing.get("phase"):
            existing["phase"] = phase
            existing.setdefault("steps", []).append({"phase": phase, "time": existing["updated"]})
        out["journal"] = existing
        if not check_mode:
            write(path, existing)
        return out
    journal = dict(run_id=run_id, playbook=playbook, owner=owner, started=now(), updated=now(), phase=phase, steps=[])
    if phase:
        journal["steps"].append({"phase": phase, "time": journal["updated"]})
    journal.update(details)
    if existing:
        age = age_seconds(existing)
        stale = age is None or age > stale_after
        if not (stale or break_lock):
            raise LockHeld("The run lock %s is held by %s; wait for that run to end or, if it is dead (its controller "
                           "was stopped), run again with -e agenta_break_lock=true." % (path, describe(existing)),
                           held_by=existing)
        why = ("its journal was last written %d minutes ago" % (age // 60)) if stale and age is not None else (
            "its journal cannot be read" if stale else "agenta_break_lock is set")
        out["previous"] = existing
        out["took_over"] = ("Took over the run lock of %s, which ended without releasing it (%s); check what it "
                            "left before trusting the host." % (describe(existing), why))
        journal["took_over_from"] = existing
    out["journal"] = journal
    if check_mode:
        return out
    try:
        write(path, journal, exclusive=not existing)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
        raise LockHeld("The run lock %s is held by %s; wait for that run to end and run again."
                       % (path, describe(read(path))))
    return out


def age_seconds(journal, at=None):
    stamp = parse_time(journal.get("updated")) or parse_time(journal.get("started"))
    if stamp is None:
        return None
    return (at if at is not None else time.time()) - stamp


def describe(journal):
    """One clause naming a run of the journal: 'run R (upgrade by alice@ctl, started T, last at phase P at U,
    backup B)'."""
    if journal.get("unreadable"):
        return "a run whose journal cannot be read"
    parts = ["%s by %s" % (journal.get("playbook") or "a run", journal.get("owner") or "someone"),
             "started %s" % (journal.get("started") or "at an unknown time")]
    if journal.get("phase"):
        parts.append("last at phase '%s' at %s" % (journal["phase"], journal.get("updated") or "?"))
    if journal.get("backup"):
        parts.append("backup %s" % journal["backup"])
    if journal.get("migration"):
        parts.append("migration %s" % journal["migration"])
    return "run %s (%s)" % (journal.get("run_id") or "?", ", ".join(parts))
