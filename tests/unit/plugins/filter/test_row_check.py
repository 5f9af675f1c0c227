"""Unit tests of agenta.fleet.row_check: the manifest's row counts against now, with the release's intent."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.filter.row_check import FilterModule, row_check

DROPPED = {"database": "agenta_oss_core", "table": "testsets", "rows_before": 41, "rows_after": None,
           "change": "dropped", "by": "3d4e5f6a7b8c"}


def test_registered():
    assert FilterModule().filters() == {"row_check": row_check}


def test_same_or_more_rows_pass():
    out = row_check({"db.a": 3, "db.b": 0}, {"db.a": 4, "db.b": 0})
    assert out == {"shortfalls": [], "intended": [], "checked": 2}


def test_missing_table_without_intent_is_a_shortfall():
    assert row_check({"agenta_oss_core.testsets": 41}, {})["shortfalls"] == [["agenta_oss_core.testsets", None, 41]]


def test_table_dropped_by_the_release_is_intended():
    out = row_check({"agenta_oss_core.testsets": 41, "agenta_oss_core.users": 3},
                    {"agenta_oss_core.users": 3}, [DROPPED])
    assert out["shortfalls"] == []
    assert out["intended"] == [{"table": "agenta_oss_core.testsets", "rows_before": 41, "rows_after": None,
                                "change": "dropped", "by": "3d4e5f6a7b8c",
                                "text": "agenta_oss_core.testsets: 41 rows before, dropped by 3d4e5f6a7b8c"}]


def test_rows_moved_by_the_runner_are_intended_down_to_what_it_left():
    moved = {"database": "agenta_oss_core", "table": "nodes", "rows_before": 10, "rows_after": 0,
             "change": "fewer", "by": "runner"}
    assert row_check({"agenta_oss_core.nodes": 10}, {"agenta_oss_core.nodes": 0}, [moved])["shortfalls"] == []
    # The migration left 5, now there are 2: rows went missing after it.
    moved = dict(moved, rows_after=5)
    assert row_check({"agenta_oss_core.nodes": 10}, {"agenta_oss_core.nodes": 2}, [moved])["shortfalls"] == [
        ["agenta_oss_core.nodes", 2, 10]]


def test_a_dropped_table_that_is_back_with_fewer_rows_is_a_shortfall():
    assert row_check({"agenta_oss_core.testsets": 41}, {"agenta_oss_core.testsets": 1}, [DROPPED])["shortfalls"] == [
        ["agenta_oss_core.testsets", 1, 41]]


def test_bad_input():
    with pytest.raises(AnsibleFilterError):
        row_check([], {})
    with pytest.raises(AnsibleFilterError):
        row_check({}, {}, [{"table": "x"}])
