# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The run report: the summary table, the Markdown and JSON files (pure functions, no Ansible). Used by the
action plugin agenta.fleet.run_report on the controller."""

from __future__ import annotations

import json
import os
import re
import tempfile

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


IN_PROGRESS = ("The run was changing this host when this report was written; if the report was not written again, "
               "the run stopped here (the host became unreachable or the controller stopped): the host's run "
               "journal (run.json under agenta_state_dir, /var/lib/agenta-fleet by default) names the phase and the "
               "backup, and the next run reads it first.")


def default_dir(environ):
    """$AGENTA_FLEET_REPORT_DIR, else ~/.local/share/agenta-fleet/reports."""
    return environ.get("AGENTA_FLEET_REPORT_DIR") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "share", "agenta-fleet", "reports")


def mark_in_progress(entries, hosts):
    """Entries of the given hosts that were not reached yet become 'in progress', with the sentence saying what
    to look at if the run never comes back to write the report again."""
    hosts = set(hosts or [])
    out = []
    for entry in entries:
        if entry.get("host") in hosts and entry.get("outcome") in ("not reached", None):
            entry = dict(entry, outcome="in progress",
                         message=" ".join(m for m in (entry.get("message") or "", IN_PROGRESS) if m))
        out.append(entry)
    return out


def cell(value):
    """A value as the table shows it: '-' when missing, JSON for mappings and lists."""
    if value is None:
        return "-"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def table_rows(entries, columns):
    """Fixed-width lines: the titles first, then one line per entry."""
    cells = [[cell(e.get(c["key"])) for c in columns] for e in entries]
    widths = [max([len(c["title"])] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c["title"].ljust(widths[i]) for i, c in enumerate(columns)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.ljust(widths[i]) for i, v in enumerate(row)).rstrip())
    return lines


def markdown(name, run_id, check_mode, entries, columns):
    out = ["# agenta.fleet %s report" % name, "",
           "- run: `%s`%s" % (run_id, " (check mode: nothing was changed)" if check_mode else ""),
           "- hosts: %d" % len(entries), "",
           "| " + " | ".join(c["title"] for c in columns) + " |",
           "|" + "|".join(" --- " for _c in columns) + "|"]
    for e in entries:
        out.append("| " + " | ".join(cell(e.get(c["key"])).replace("|", "\\|").replace("\n", " ")
                                     for c in columns) + " |")
    messages = [e for e in entries if e.get("message")]
    if messages:
        out += ["", "## Messages", ""]
        out += ["- **%s**: %s" % (e.get("host", "?"), str(e["message"]).replace("\n", " ")) for e in messages]
    return "\n".join(out) + "\n"


def check_input(folder, name, entries, columns):
    """One sentence on what is wrong with the input, or None."""
    if not isinstance(folder, str) or not os.path.isabs(folder):
        return ("agenta_report_dir must be an absolute folder on the controller, not %s; set it (or "
                "AGENTA_FLEET_REPORT_DIR) to one such as ~/agenta-reports written out in full." % (folder or "''"))
    if not isinstance(name, str) or not NAME.match(name):
        return "The report name must be letters, digits, '.', '_' or '-', not %r." % (name,)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return "The report entries must be a list of mappings, one per host."
    if not isinstance(columns, list) or not columns or not all(
            isinstance(c, dict) and isinstance(c.get("key"), str) and isinstance(c.get("title"), str)
            for c in columns):
        return "The report columns must be a list of {key, title} with text in both."
    return None


def write_private(path, text):
    """Write text to path atomically, mode 0600."""
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".report-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before it replaces the old file (postgres_move's record)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write(folder, name, run_id, check_mode, entries, columns):
    """Write <folder>/<name>-<run_id>.json and .md (0600, folder 0700); return (json path, md path)."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    base = os.path.join(folder, "%s-%s" % (name, run_id))
    document = {"run": name, "run_id": run_id, "check_mode": bool(check_mode), "hosts": entries}
    write_private(base + ".json", json.dumps(document, indent=4, sort_keys=True) + "\n")
    write_private(base + ".md", markdown(name, run_id, check_mode, entries, columns))
    return base + ".json", base + ".md"
