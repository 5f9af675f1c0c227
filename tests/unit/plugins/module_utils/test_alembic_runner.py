"""Unit tests of alembic_runner.info_result: the driver's info answer as agenta.fleet.alembic_migration_info and
agenta.fleet.deployment_info's chains return it."""

from __future__ import annotations

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils.alembic_runner import info_result

ANSWER = {"layout": "g3", "edition": "oss", "where": "container agenta-oss-gh-api-1", "destructive": [],
          "chains": [{"name": "core_oss", "config": "/app/oss/core/alembic.ini", "version_table": "alembic_version",
                      "before": "c05500000001", "heads": ["c05500000003"],
                      "pending": ["c05500000002", "c05500000003"]},
                     {"name": "tracing_oss", "before": None, "heads": ["7a5500000001"], "pending": ["7a5500000001"]}]}


def test_chains_revisions_and_pending_as_the_info_module_returns_them():
    out = info_result(ANSWER)
    assert [c["name"] for c in out["chains"]] == ["core_oss", "tracing_oss"]
    assert out["chains"][0]["current"] == "c05500000001" and out["chains"][0]["note"] is None
    assert out["revisions"] == {"core_oss": "c05500000001", "tracing_oss": "base"}
    assert out["pending_total"] == 3
    assert out["summary"] == "3 revisions are pending: 2 in core_oss, 1 in tracing_oss."
    assert out["layout"] == "g3" and out["where"] == "container agenta-oss-gh-api-1" and out["split"] == []


def test_a_chain_with_several_heads_has_no_pending_list_and_says_why():
    answer = dict(ANSWER, chains=[dict(ANSWER["chains"][0], pending=[], heads=["a1", "b1"])])
    chain = info_result(answer)["chains"][0]
    assert chain["pending"] is None and chain["note"] == "the chain has 2 heads"
    assert info_result(answer)["pending_total"] is None


def test_a_pending_split_comes_first_in_the_summary():
    answer = dict(ANSWER, split=[{"from": "agenta_oss", "database": "agenta_oss_core"},
                                 {"from": None, "database": "agenta_oss_tracing"}])
    summary = info_result(answer)["summary"]
    assert summary.startswith("The databases still have the names of Agenta v0.44 and older: the split of Agenta "
                              "v0.45 is pending (agenta_oss becomes agenta_oss_core, agenta_oss_tracing is created)")
