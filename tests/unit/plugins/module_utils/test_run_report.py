"""Unit tests of module_utils/run_report: the table, the Markdown, the input checks and the private files."""

from __future__ import annotations

import json
import os
import stat

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import run_report

COLUMNS = [{"key": "host", "title": "HOST"}, {"key": "pending_total", "title": "PENDING"},
           {"key": "outcome", "title": "OUTCOME"}]
ENTRIES = [{"host": "staging-1", "pending_total": 3, "outcome": "upgraded", "message": "As the release intends."},
           {"host": "staging-22", "outcome": "not reached", "before": {"oss": "1a"}}]


def test_table_rows_are_fixed_width_with_dashes_for_missing_values():
    assert run_report.table_rows(ENTRIES, COLUMNS) == [
        "HOST        PENDING  OUTCOME",
        "staging-1   3        upgraded",
        "staging-22  -        not reached",
    ]


def test_mappings_and_lists_show_as_json():
    rows = run_report.table_rows(ENTRIES, [{"key": "before", "title": "BEFORE"}])
    assert rows == ["BEFORE", "-", '{"oss": "1a"}']


def test_markdown_escapes_pipes_and_lists_messages():
    text = run_report.markdown("upgrade", "20261203T140000Z", True,
                               [{"host": "a", "outcome": "x|y", "message": "line one\nline two"}], COLUMNS)
    assert text.splitlines()[:7] == [
        "# agenta.fleet upgrade report", "",
        "- run: `20261203T140000Z` (check mode: nothing was changed)", "- hosts: 1", "",
        "| HOST | PENDING | OUTCOME |", "| --- | --- | --- |"]
    assert "| a | - | x\\|y |" in text
    assert text.endswith("## Messages\n\n- **a**: line one line two\n")


@pytest.mark.parametrize("folder,name,entries,columns,start", [
    ("reports", "upgrade", [], COLUMNS, "agenta_report_dir must be an absolute folder on the controller, not reports;"),
    ("", "upgrade", [], COLUMNS, "agenta_report_dir must be an absolute folder on the controller, not '';"),
    ("/tmp/r", "../x", [], COLUMNS, "The report name must be"),
    ("/tmp/r", "upgrade", ["staging-1"], COLUMNS, "The report entries must be a list of mappings"),
    ("/tmp/r", "upgrade", [], [{"key": "host"}], "The report columns must be a list of {key, title}"),
    ("/tmp/r", "upgrade", [], [], "The report columns must be a list of {key, title}"),
])
def test_bad_input_is_one_sentence(folder, name, entries, columns, start):
    assert run_report.check_input(folder, name, entries, columns).startswith(start)


def test_good_input_passes():
    assert run_report.check_input("/tmp/r", "upgrade", ENTRIES, COLUMNS) is None


def test_write_makes_private_files_in_a_private_folder(tmp_path):
    folder = tmp_path / "reports"
    json_path, md_path = run_report.write(str(folder), "rollback", "r1", False, ENTRIES, COLUMNS)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for path in (json_path, md_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    doc = json.loads(open(json_path).read())
    assert doc == {"run": "rollback", "run_id": "r1", "check_mode": False, "hosts": ENTRIES}
    # A second batch rewrites the same files; no temporary file is left behind.
    run_report.write(str(folder), "rollback", "r1", False, ENTRIES[:1], COLUMNS)
    assert sorted(os.listdir(folder)) == ["rollback-r1.json", "rollback-r1.md"]
    assert len(json.loads(open(json_path).read())["hosts"]) == 1


def test_hosts_in_progress_are_marked_until_the_next_report():
    entries = [{"host": "staging-1", "outcome": "upgraded"}, {"host": "staging-2", "outcome": "not reached"},
               {"host": "production-1", "outcome": "not reached", "message": "Shares its database."}]
    out = run_report.mark_in_progress(entries, ["staging-2", "production-1", "staging-1"])
    assert [e["outcome"] for e in out] == ["upgraded", "in progress", "in progress"]
    assert out[1]["message"] == run_report.IN_PROGRESS
    assert out[2]["message"].startswith("Shares its database. The run was changing this host")
    assert entries[1]["outcome"] == "not reached"  # the input is not changed


def test_the_default_folder_is_the_environment_or_the_users_share():
    assert run_report.default_dir({"AGENTA_FLEET_REPORT_DIR": "/srv/r", "HOME": "/h"}) == "/srv/r"
    assert run_report.default_dir({"HOME": "/h"}) == "/h/.local/share/agenta-fleet/reports"
