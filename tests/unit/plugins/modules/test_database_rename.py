# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of agenta.fleet.database_rename: the plan on a server's list of databases, the SQL, the sentences.
The renames themselves run on a lab host (tests/integration/test_v045_split.py)."""

from __future__ import annotations

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.modules import database_rename as dr

V045 = [("agenta_oss", "agenta_oss_core"), ("supertokens_oss", "agenta_oss_supertokens")]


def test_a_g1_server_is_renamed_and_gets_its_tracing_database():
    existing = {"postgres", "agenta_oss", "supertokens_oss"}
    assert dr.plan(existing, V045, ["agenta_oss_tracing"]) == (
        {"agenta_oss": "agenta_oss_core", "supertokens_oss": "agenta_oss_supertokens"}, ["agenta_oss_tracing"], {})


def test_a_split_server_needs_nothing():
    existing = {"agenta_oss_core", "agenta_oss_supertokens", "agenta_oss_tracing"}
    assert dr.plan(existing, V045, ["agenta_oss_tracing"]) == (
        {}, [], {"agenta_oss": "agenta_oss_core", "supertokens_oss": "agenta_oss_supertokens"})


def test_a_missing_supertokens_database_is_skipped():
    assert dr.plan({"agenta_oss"}, V045, ["agenta_oss_tracing"]) == (
        {"agenta_oss": "agenta_oss_core"}, ["agenta_oss_tracing"], {})


def test_both_names_are_refused_naming_the_leftover():
    with pytest.raises(ValueError) as err:
        dr.plan({"agenta_oss", "agenta_oss_core", "supertokens_oss"}, V045, ["agenta_oss_tracing"])
    assert str(err.value).startswith("Both agenta_oss and agenta_oss_core exist on this server")
    assert "drop it (after a backup" in str(err.value) and str(err.value).endswith("Nothing was changed.")


def test_neither_name_of_the_first_pair_is_refused():
    with pytest.raises(ValueError, match="^Neither agenta_oss nor agenta_oss_core exists"):
        dr.plan({"postgres", "supertokens_oss"}, V045, [])


def test_a_created_name_that_is_also_a_rename_target_is_not_created_twice():
    assert dr.plan({"agenta_oss"}, V045, ["agenta_oss_core", "x"]) == ({"agenta_oss": "agenta_oss_core"}, ["x"], {})


def test_the_renames_run_in_one_transaction():
    assert dr.rename_sql({"supertokens_oss": "agenta_oss_supertokens", "agenta_oss": "agenta_oss_core"}) == [
        'BEGIN; ALTER DATABASE "agenta_oss" RENAME TO "agenta_oss_core"; '
        'ALTER DATABASE "supertokens_oss" RENAME TO "agenta_oss_supertokens"; COMMIT;']


def test_a_name_that_is_not_plain_is_refused():
    with pytest.raises(dr.DeploymentError):
        dr.rename_sql({'agenta"; DROP DATABASE x; --': "y"})


def test_sessions_are_named():
    assert dr.sessions_phrase(["agenta_oss|api|172.18.0.5", "agenta_oss|an unnamed session|local", "junk"]) == (
        "agenta_oss (api from 172.18.0.5), agenta_oss (an unnamed session from local)")
    assert "'agenta_oss'" in dr.sessions_sql(["agenta_oss"])[0]
    assert "backend_type = 'client backend'" in dr.sessions_sql(["agenta_oss"])[0]


@pytest.mark.parametrize("renames,created,check,text", [
    ({"agenta_oss": "agenta_oss_core"}, ["agenta_oss_tracing"], False,
     "Renamed agenta_oss to agenta_oss_core and created agenta_oss_tracing, as Agenta v0.45 does."),
    ({"agenta_oss": "agenta_oss_core", "supertokens_oss": "agenta_oss_supertokens"}, [], True,
     "Would rename agenta_oss to agenta_oss_core and supertokens_oss to agenta_oss_supertokens, as Agenta v0.45 does."),
    ({}, [], False, "The databases have the names Agenta v0.45 gave them already; nothing was renamed."),
])
def test_summary(renames, created, check, text):
    assert dr.summary(renames, created, check) == text


def test_agentas_map_per_edition():
    assert dr.split_map("oss") == (V045, ["agenta_oss_tracing"])
    assert dr.split_map("ee") == ([("agenta_ee", "agenta_ee_core"), ("supertokens_ee", "agenta_ee_supertokens")],
                                  ["agenta_ee_tracing"])
