"""Unit tests of agenta.fleet.verify_chains and agenta.fleet.verify_rows, the role verify's judgement of the chains
and of the row counts against a backup manifest (they replace the role's Jinja expressions, with the same
sentences)."""

from __future__ import annotations

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible.errors import AnsibleFilterError

from ansible_collections.agenta.fleet.plugins.filter import verify_chains as vc
from ansible_collections.agenta.fleet.plugins.filter import verify_rows as vr

verify_chains, verify_rows, expected_rows = vc.verify_chains, vr.verify_rows, vr.expected_rows


def chain(name, current, *heads):
    return {"name": name, "current": current, "heads": list(heads)}


G3_AT_HEAD = [chain("core", "park00000000", "park00000000"), chain("core_oss", "c05500000003", "c05500000003"),
              chain("tracing", "park00000000", "park00000000"), chain("tracing_oss", "7a5500000002", "7a5500000002")]


def problems(chains, targets=None):
    return verify_chains(chains, targets or {}, "web-1")["problems"]


# ------------------------------------------------------------------------------------------------- verify_chains
def test_chains_at_head_pass():
    assert problems(G3_AT_HEAD) == []
    assert verify_chains(G3_AT_HEAD, {}, "web-1")["revisions"]["core_oss"] == "c05500000003"


def test_chain_behind_its_head_is_named_first():
    chains = [*G3_AT_HEAD[:1], chain("core_oss", "c05500000001", "c05500000003"),
              chain("tracing", "park00000000", "park00000000"), chain("tracing_oss", "7a5500000001", "7a5500000002")]
    assert problems(chains) == [
        "Chain core_oss on web-1 is at c05500000001, but its head is c05500000003; migrate it (agenta.fleet.migrate) "
        "and verify again.",
        "Chain tracing_oss on web-1 is at 7a5500000001, but its head is 7a5500000002; migrate it (agenta.fleet.migrate) "
        "and verify again."]


def test_targets_win_over_heads_and_base_means_none():
    assert problems([chain("oss", "1a0000000002", "1a0000000006")], {"oss": "1a0000000002"}) == []
    assert problems([chain("oss", None, "1a0000000006")], {"oss": "base"}) == []
    assert problems([chain("oss", "1a0000000006", "1a0000000006")], {"oss": "1a0000000002"}) == [
        "Chain oss on web-1 is at 1a0000000006, but the target is 1a0000000002; migrate it to the target and verify "
        "again."]


def test_unknown_target_chain_and_several_heads_are_refused():
    assert problems([chain("oss", "a", "b", "c")], {"core": "x"}) == [
        "verify_targets names chain core, which the API image of web-1 does not have (it has oss); name only "
        "chains the image has.",
        "Chain oss on web-1 has 2 heads in the API image (b, c); name its target in verify_targets."]
    assert problems([], {"core": "x"}) == [
        "verify_targets names chain core, which the API image of web-1 does not have (it has no chains); name only "
        "chains the image has."]


def test_chains_of_a_migration_carry_after_instead_of_current():
    migrated = [{"name": "core_oss", "before": "c05500000001", "after": "c05500000003", "heads": ["c05500000003"]},
                {"name": "tracing_oss", "before": None, "after": None, "heads": ["7a5500000002"]}]
    check = verify_chains(migrated, {}, "web-1")
    assert check["problems"] == [
        "Chain tracing_oss on web-1 is at base, but its head is 7a5500000002; migrate it (agenta.fleet.migrate) and "
        "verify again."]
    assert check["revisions"] == {"core_oss": "c05500000003", "tracing_oss": "base"}


def test_the_chains_read_of_deployment_info_is_judged_by_its_chains():
    read = {"read": True, "error": None, "reason": None, "layout": "g3", "chains": G3_AT_HEAD}
    assert verify_chains(read, {}, "web-1") == verify_chains(G3_AT_HEAD, {}, "web-1")
    behind = dict(read, chains=[chain("core_oss", "c05500000001", "c05500000003")])
    assert verify_chains(behind, {}, "web-1")["problems"] == [
        "Chain core_oss on web-1 is at c05500000001, but its head is c05500000003; migrate it (agenta.fleet.migrate) "
        "and verify again."]


@pytest.mark.parametrize("read,why", [
    ({"read": False, "error": None, "reason": "the api container agenta-oss-gh-api-1 is exited"},
     "the api container agenta-oss-gh-api-1 is exited"),
    ({"read": True, "error": "Could not connect to the database.", "chains": []}, "Could not connect to the database"),
    ({}, "no answer"),
])
def test_chains_that_could_not_be_read_are_one_problem(read, why):
    assert verify_chains(read, {}, "web-1") == {"problems": [
        "The Alembic chains of web-1 could not be read (%s); look at the api container's logs (docker compose logs "
        "api) and verify again." % why], "revisions": {}}


def test_chains_must_be_a_list_of_mappings():
    with pytest.raises(AnsibleFilterError):
        verify_chains("oss", {}, "web-1")
    with pytest.raises(AnsibleFilterError):
        verify_chains(G3_AT_HEAD, ["oss"], "web-1")


# --------------------------------------------------------------------------------------------------- verify_rows
def manifest(*dbs):
    return {"tool": "agenta.fleet.backup", "databases": [{"name": n, "tables": t} for n, t in dbs]}


def test_manifest_expected_counts_follow_the_database_rename():
    doc = manifest(("agenta_oss", {"apps": 300, "testsets": 2}), ("supertokens_oss", {}))
    renames = {"agenta_oss": "agenta_oss_core", "supertokens_oss": "agenta_oss_supertokens"}
    assert expected_rows(doc, ["postgres", "agenta_oss_core", "agenta_oss_supertokens"], renames) == {
        "agenta_oss_core.apps": 300, "agenta_oss_core.testsets": 2}
    # Not renamed while the old name still exists.
    assert expected_rows(doc, ["agenta_oss"], renames) == {"agenta_oss.apps": 300, "agenta_oss.testsets": 2}


def test_manifest_tables_may_be_a_list():
    doc = manifest(("agenta_oss_tracing", [{"name": "spans", "rows": 7}, {"name": "traces", "count": "3"},
                                           {"name": "events", "rows": "12.0"}, {"name": "links", "rows": None}]))
    assert expected_rows(doc, ["agenta_oss_tracing"]) == {"agenta_oss_tracing.spans": 7, "agenta_oss_tracing.traces": 3,
                                                          "agenta_oss_tracing.events": 12, "agenta_oss_tracing.links": 0}


MANIFEST = "/var/backups/agenta/20261205T101500Z/manifest.json"
SETTINGS = {"host": "web-1", "manifest": MANIFEST, "intended": [], "renames": {}, "postgres_service": "postgres",
            "env_file": "/opt/agenta/.env.oss.gh"}


def read(counts, content=None, **database):
    return {"manifest": {"content": manifest(("agenta_oss", {"apps": 300, "testsets": 2})) if content is None else content},
            "database": {"answered": True, "databases": [{"name": "agenta_oss"}], "row_counts": counts, **database}}


def test_rows_at_least_those_of_the_manifest_pass_and_are_recorded():
    out = verify_rows(read({"agenta_oss.apps": 301, "agenta_oss.testsets": 2, "agenta_oss.other": 9}), SETTINGS)
    assert out["problem"] == "" and out["intended"] == []
    assert out["row_counts"] == {"agenta_oss.apps": 301, "agenta_oss.testsets": 2}


def test_a_table_below_the_manifest_is_named():
    out = verify_rows(read({"agenta_oss.apps": 299, "agenta_oss.testsets": 2}), SETTINGS)
    assert out["problem"] == ("Table agenta_oss.apps on web-1 has 299 rows, fewer than the 300 the backup manifest "
                              + MANIFEST + " recorded; restore that backup (agenta.fleet.restore) or find where the rows "
                              "went.")


def test_a_missing_table_the_migration_did_not_report_is_named():
    intended = [{"database": "agenta_oss", "table": "apps", "rows_before": 300, "rows_after": 300, "change": "rewritten",
                 "by": "b2"}]
    out = verify_rows(read({"agenta_oss.apps": 300}), dict(SETTINGS, intended=intended))
    assert out["problem"] == ("Table agenta_oss.testsets on web-1 is missing, fewer than the 2 the backup manifest "
                              + MANIFEST + " recorded, and the migration did not report that change; restore that "
                              "backup (agenta.fleet.restore) or find where the rows went.")


def test_a_table_the_release_drops_on_purpose_is_intended():
    intended = [{"database": "agenta_oss", "table": "testsets", "rows_before": 2, "rows_after": None,
                 "change": "dropped", "by": "3d4e5f6a7b8c"}]
    out = verify_rows(read({"agenta_oss.apps": 300}), dict(SETTINGS, intended=intended))
    assert out["problem"] == ""
    assert [i["text"] for i in out["intended"]] == ["agenta_oss.testsets: 2 rows before, dropped by 3d4e5f6a7b8c"]


def test_a_manifest_without_databases_is_refused():
    out = verify_rows(read({}, content={"tool": "agenta.fleet.backup", "databases": []}), SETTINGS)
    assert out["problem"] == ("The backup manifest " + MANIFEST + " on web-1 lists no databases; give the manifest.json "
                              "written by agenta.fleet.backup.")
    empty = verify_rows({"manifest": {"content": None}}, SETTINGS)["problem"]
    assert empty.endswith("lists no databases; give the manifest.json written by agenta.fleet.backup.")


def test_a_database_that_does_not_answer_is_refused():
    out = verify_rows(read({}, answered=False, container="agenta-oss-gh-postgres-1", error="FATAL: no password"),
                      SETTINGS)
    assert out["problem"] == ("The database in agenta-oss-gh-postgres-1 on web-1 does not answer (FATAL: no password); "
                              "check the postgres container (docker compose logs postgres) and the login in "
                              "/opt/agenta/.env.oss.gh, then verify again.")
    out = verify_rows(read({}, answered=False), SETTINGS)
    assert "The database in postgres on web-1 does not answer (no output);" in out["problem"]


def test_verify_rows_needs_mappings():
    with pytest.raises(AnsibleFilterError):
        verify_rows([], SETTINGS)
