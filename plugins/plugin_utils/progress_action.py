# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Signs of life of a long step, shared by the action plugins of database_backup, database_restore,
deployment_restore and alembic_migration: the module runs on the host as an asynchronous job and, while it runs, the controller shows a
line every agenta_progress_interval seconds (default 15) with the time so far and how far the module got (which
it notes in the host's run journal, option run_journal). Databases the pre-checks measured below
agenta_progress_min_bytes (default 256 MiB: seconds of work), agenta_progress_interval=0, check mode, or a task with
its own `async` run the module the ordinary way (one round trip; the job's start costs a few). The module's result
is returned unchanged."""

from __future__ import annotations

import time

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.agenta.fleet.plugins.module_utils import progress

display = Display()

JOB_LIMIT = 7 * 24 * 3600  # the module's own timeouts end it long before this
LOST_AFTER = 120  # seconds without a look that reaches the host (agenta_unreachable_after): the host is unreachable


class ProgressAction(ActionBase):
    """Subclasses set STEP (what the line says the host is doing, e.g. "backing up the databases")."""
    TRANSFERS_FILES = False
    _supports_async = True
    STEP = "working"

    def run(self, tmp=None, task_vars=None):
        result = super(ProgressAction, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        try:
            interval = float(task_vars.get("agenta_progress_interval", progress.DEFAULT_INTERVAL))
        except (TypeError, ValueError):
            interval = progress.DEFAULT_INTERVAL
        measured = task_vars.get("preflight_result")
        size = measured.get("db_size_bytes") if isinstance(measured, dict) else None
        min_bytes = task_vars.get("agenta_progress_min_bytes", progress.DEFAULT_MIN_BYTES)
        if (not progress.as_job(interval, size, min_bytes) or self._task.check_mode or self._task.async_val
                or self._connection.has_native_async):
            # As ansible.builtin's normal action does (a task with its own `async` is polled by Ansible).
            wrap = bool(self._task.async_val) and not self._connection.has_native_async
            result.update(self._execute_module(task_vars=task_vars, wrap_async=wrap))
            if not wrap:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result

        host = task_vars.get("inventory_hostname", "host")
        try:
            lost_after = float(task_vars.get("agenta_unreachable_after", LOST_AFTER))
        except (TypeError, ValueError):
            lost_after = LOST_AFTER
        journal_path = self._task.args.get("run_journal")
        t_start = time.monotonic()
        self._task.async_val = JOB_LIMIT
        try:
            started = self._execute_module(task_vars=task_vars, wrap_async=True)
        finally:
            self._task.async_val = 0
        jid = started.get("ansible_job_id")
        if not jid or started.get("failed"):
            started.pop("changed", None)
            result.update(started)
            self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        # The job's temporary folder belongs to the job now (it removes it); every poll makes its own.
        self._connection._shell.tmpdir = None
        async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))
        job_file = self._connection._shell.join_path(async_dir, jid)
        quote = self._connection._shell.quote
        begin = time.monotonic()
        next_line = begin + interval
        last_seen = begin  # the last time a look reached the host
        polls = 0
        status = None
        while status is None:
            # Short waits first (most steps take seconds), then one look a second. A look is one `head` of the
            # job's file on the host (and `cat` of the run journal when a line is due), not a module.
            time.sleep(min(progress.POLL_WAITS[min(polls, len(progress.POLL_WAITS) - 1)], interval))
            polls += 1
            now = time.monotonic()
            elapsed = now - begin
            if elapsed > JOB_LIMIT:
                result.update(failed=True, msg="The job %s (%s) on %s did not finish within %d s." % (
                    jid, self.STEP, host, JOB_LIMIT))
                return result
            line_due = now >= next_line
            try:
                look = self._low_level_execute_command(
                    progress.peek_command(quote(job_file), quote(journal_path) if line_due and journal_path else None),
                    sudoable=True)
            except Exception as exc:  # pylint: disable=broad-except  # a blip of the connection: look again
                if now - last_seen > lost_after:
                    raise AnsibleConnectionFailure(
                        "%s could not be reached for %d s while %s (%s); the job %s may still be running there: "
                        "its journal and result stay on the host (%s). Reach the host, then run again." % (
                            host, now - last_seen, self.STEP, exc, jid, job_file))
                display.vvvv("Looking at job %s failed (%s); looking again." % (jid, exc))
                self._connection.reset()
                continue
            last_seen = now
            state, journal = progress.read_peek(look.get("stdout", ""))
            # Right after the start the job file may not be there yet.
            if state == "running" or (state == "missing" and elapsed < 30):
                if line_due:
                    next_line = now + interval
                    display.display(progress.line(host, self.STEP, elapsed, journal))
                continue
            # The result as async_status gives it (parsed and checked as any module's); a job it still sees
            # running (the look misread) is looked at again.
            try:
                answer = self._module("ansible.legacy.async_status", {"jid": jid, "_async_dir": async_dir},
                                      task_vars)
            except Exception as exc:  # pylint: disable=broad-except
                result.update(failed=True, msg="Could not read the result of job %s (%s) on %s: %s; it is in %s."
                              % (jid, self.STEP, host, exc, job_file))
                return result
            if answer.get("finished") or answer.get("failed"):
                status = answer
        done = time.monotonic()
        try:
            self._low_level_execute_command("rm -f %s" % quote(job_file), sudoable=True)
        except Exception as exc:  # pylint: disable=broad-except  # the job's file stays; the result is what counts
            display.vvvv("Could not remove the job file of %s (%s)." % (jid, exc))
        display.vvvv("%s: job %s started in %.2f s, ran %.2f s (%d looks), result read and file removed in %.2f s" % (
            host, jid, begin - t_start, done - begin, polls, time.monotonic() - done))
        for key in progress.ASYNC_KEYS:
            status.pop(key, None)
        if status.get("failed") and "data" in status:  # the module died: what it printed, as a plain run shows it
            status["module_stdout"] = status.pop("data")
            status["module_stderr"] = status.pop("stderr", "")
        result.update(status)
        return result

    def _module(self, name, args, task_vars):
        answer = self._execute_module(module_name=name, module_args=args, task_vars=task_vars)
        self._remove_tmp_path(self._connection._shell.tmpdir)
        self._connection._shell.tmpdir = None
        return answer
