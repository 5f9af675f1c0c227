"""Unit tests of agenta.fleet.data_loss: what the pending revisions will delete, from the plan."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.filter.data_loss import FilterModule, data_loss


def item(table, action="drop", rows=5, column=None, revision="3d4e5f6a7b8c"):
    return {"chain": "core", "revision": revision, "database": "agenta_oss_core", "table": table,
            "action": action, "column": column, "rows": rows}


def test_registered():
    assert FilterModule().filters() == {"data_loss": data_loss}


def test_nothing_destructive():
    assert data_loss([]) == {"deletes": False, "tables": 0, "rows": 0, "lines": [], "summary": ""}


def test_drops_count_rows_once_per_table():
    out = data_loss([item("testsets", rows=41), item("app_db", rows=6),
                     item("testsets", action="delete", rows=41, revision="1b2c3d4e5f6a")])
    assert out["deletes"] and out["tables"] == 2 and out["rows"] == 47 and out["summary"] == "2 tables, 47 rows"
    assert out["lines"][0] == "agenta_oss_core.testsets: 41 rows, dropped by 3d4e5f6a7b8c (chain core)"
    assert out["lines"][2] == "agenta_oss_core.testsets: 41 rows, rows deleted (DELETE) by 1b2c3d4e5f6a (chain core)"


def test_empty_missing_and_rewritten_tables_delete_nothing():
    out = data_loss([item("bases", rows=0), item("gone", rows=None), item("projects", action="rewrite", rows=3),
                     item("users", action="drop_column", rows=0, column="uid")])
    assert not out["deletes"] and out["summary"] == ""
    assert out["lines"] == ["agenta_oss_core.bases: 0 rows, dropped by 3d4e5f6a7b8c (chain core)",
                            "agenta_oss_core.projects: 3 rows, rows rewritten (UPDATE) by 3d4e5f6a7b8c (chain core)",
                            "agenta_oss_core.users: 0 rows, column uid dropped by 3d4e5f6a7b8c (chain core)"]


def test_bad_input():
    with pytest.raises(AnsibleFilterError):
        data_loss({})
    with pytest.raises(AnsibleFilterError):
        data_loss(["x"])
