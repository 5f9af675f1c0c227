"""agenta.fleet.alembic_migration on real lab hosts, G3 layout (legacy core/tracing parked, core_oss and
tracing_oss chains with one transaction per revision).

One lab (staging-1 + production-1) at v0.104.0 for the whole module, upgraded with the v0.113.0 image in a
one-shot container; the tests run in file order and each leaves the databases where the next expects them.
Every assertion about the databases is a real psql query on the lab host.
"""

from __future__ import annotations

import json

import pytest

from role_support import start_lab
from test_module_support import (ENV_FILE, NEW_G3, concurrent_runs, driver_source, make_broken_image, migrate,
                                 oneshot, revision_file)

HOST = "staging-1"
PARK = "park00000000"
OLD = {"core": PARK, "core_oss": "c05500000001", "tracing": PARK, "tracing_oss": "7a5500000001"}
NEW = {"core": PARK, "core_oss": "c05500000003", "tracing": PARK, "tracing_oss": "7a5500000002"}
ORDER = ["core", "core_oss", "tracing", "tracing_oss"]


@pytest.fixture(scope="module")
def lab(lab_factory):
    return start_lab(lab_factory, "v0.104.0")


def by_name(res):
    return {c["name"]: c for c in res["chains"]}


def test_start_state(lab):
    assert lab.revisions(HOST) == OLD


def test_check_mode_and_diff_before_upgrade(lab):
    res = migrate(lab, HOST, oneshot(NEW_G3), check=True, diff=True)
    assert not res.get("failed"), res
    assert res["changed"] is True and res["layout"] == "g3"
    assert [c["name"] for c in res["chains"]] == ORDER
    chains = by_name(res)
    assert chains["core"]["pending"] == [] and chains["tracing"]["pending"] == []
    assert chains["core_oss"]["pending"] == ["c05500000002", "c05500000003"]
    assert chains["tracing_oss"]["pending"] == ["7a5500000002"]
    assert res["diff"]["before"] == "".join(f"{c}: {OLD[c]}\n" for c in ORDER)
    assert res["diff"]["after"] == "".join(f"{c}: {NEW[c]}\n" for c in ORDER)
    assert lab.revisions(HOST) == OLD


def test_info_with_the_new_image(lab):
    res = migrate(lab, HOST, oneshot(NEW_G3), module="agenta.fleet.alembic_migration_info")
    assert not res.get("failed"), res
    assert res["revisions"] == OLD and res["pending_total"] == 3
    chains = by_name(res)
    assert chains["core_oss"]["heads"] == ["c05500000003"]
    assert chains["core_oss"]["config"] == "/app/oss/databases/postgres/migrations/core_oss/alembic.ini"
    assert chains["tracing_oss"]["version_table"] == "alembic_version_oss"


def test_failure_switch_stops_at_last_good_revision(lab):
    res = migrate(lab, HOST, oneshot(NEW_G3, env={"AGENTA_LAB_FAIL_REVISION": "c05500000003"}))
    assert res.get("failed")
    assert res["msg"].startswith("Revision c05500000003 of chain core_oss failed: RuntimeError: lab failure switch")
    assert res["msg"].endswith("; chain core_oss stands at c05500000002.")
    chains = by_name(res)
    assert chains["core_oss"]["applied"] == ["c05500000002"]
    assert chains["tracing_oss"]["applied"] == []  # later chains did not run
    # One transaction per revision: c05500000002 stays applied.
    assert lab.revisions(HOST) == {**OLD, "core_oss": "c05500000002"}


def test_upgrade(lab):
    rows_before = lab.row_counts(HOST)
    res = migrate(lab, HOST, oneshot(NEW_G3))
    assert not res.get("failed"), res
    assert res["changed"] is True
    chains = by_name(res)
    assert chains["core_oss"]["before"] == "c05500000002" and chains["core_oss"]["after"] == "c05500000003"
    assert chains["core_oss"]["applied"] == ["c05500000003"]
    assert chains["tracing_oss"]["applied"] == ["7a5500000002"]
    assert chains["core"]["applied"] == [] and chains["core"]["output"] == ""
    assert "Running upgrade 7a5500000001 -> 7a5500000002" in chains["tracing_oss"]["output"]
    assert lab.revisions(HOST) == NEW
    assert lab.row_counts(HOST) == rows_before


def test_run_again_and_check_mode_after(lab):
    res = migrate(lab, HOST, oneshot(NEW_G3))
    assert not res.get("failed") and res["changed"] is False
    res = migrate(lab, HOST, oneshot(NEW_G3), check=True, diff=True)
    assert res["changed"] is False and all(c["pending"] == [] for c in res["chains"])
    assert res["diff"]["before"] == res["diff"]["after"]


def test_downgrade_to_recorded_revisions_refused(lab):
    res = migrate(lab, HOST, oneshot(NEW_G3, state="downgraded",
                                     targets={"core_oss": OLD["core_oss"], "tracing_oss": OLD["tracing_oss"]}))
    assert res.get("failed") and res["changed"] is False
    # Newer chains go back first: tracing_oss is planned first and its 7a5500000002 downgrade is empty.
    assert res["msg"].startswith("Refusing to downgrade chain tracing_oss through 7a5500000002: its downgrade does "
                                 "nothing")
    res = migrate(lab, HOST, oneshot(NEW_G3, state="downgraded", targets={"core_oss": OLD["core_oss"]}))
    assert res["msg"] == ("Refusing to downgrade chain core_oss through c05500000003: its downgrade raises "
                          "NotImplementedError; restore from a backup or set allow_irreversible: true.")
    assert lab.revisions(HOST) == NEW


def test_downgrade_with_allow_irreversible(lab):
    res = migrate(lab, HOST, oneshot(NEW_G3, state="downgraded", targets={"tracing_oss": OLD["tracing_oss"]},
                                     allow_irreversible=True), diff=True)
    assert not res.get("failed"), res
    assert res["changed"] is True and by_name(res)["tracing_oss"]["applied"] == ["7a5500000002"]
    assert res["diff"] == {"before": "tracing_oss: 7a5500000002\n", "after": "tracing_oss: 7a5500000001\n"}
    assert lab.revisions(HOST) == {**NEW, "tracing_oss": OLD["tracing_oss"]}
    # NotImplementedError cannot be allowed through: the run fails there and the chain stays.
    res = migrate(lab, HOST, oneshot(NEW_G3, state="downgraded", targets={"core_oss": "c05500000002"},
                                     allow_irreversible=True))
    assert res.get("failed")
    assert res["msg"].startswith("Revision c05500000003 of chain core_oss failed: NotImplementedError")
    assert res["msg"].endswith("chain core_oss stands at c05500000003.")
    assert lab.revision(HOST, "core_oss") == "c05500000003"


def test_two_runs_at_once_on_one_database(lab):
    first, second = concurrent_runs(lab, HOST, oneshot(NEW_G3))
    assert not first.get("failed") and not second.get("failed"), (first, second)
    assert sorted([first["changed"], second["changed"]]) == [False, True]
    assert lab.revisions(HOST) == NEW


def test_oss_chain_refused_while_legacy_not_parked(lab):
    # Move the legacy tracing chain off park (park's downgrade is empty by design, so allowed).
    res = migrate(lab, HOST, oneshot(NEW_G3, state="downgraded", allow_irreversible=True,
                                     targets={"tracing_oss": OLD["tracing_oss"], "tracing": "7ace00000002"}))
    assert not res.get("failed"), res
    assert [c["name"] for c in res["chains"]] == ["tracing_oss", "tracing"]
    assert lab.revision(HOST, "tracing") == "7ace00000002"
    res = migrate(lab, HOST, oneshot(NEW_G3, chains=["tracing_oss"]))
    assert res.get("failed") and res["changed"] is False
    assert res["msg"] == ("Refusing to upgrade chain tracing_oss: its legacy chain tracing is at 7ace00000002, not "
                          "parked at park00000000; run tracing first (or include it in the same run).")
    assert lab.revision(HOST, "tracing_oss") == OLD["tracing_oss"]
    # Parking earlier in the same run is fine.
    res = migrate(lab, HOST, oneshot(NEW_G3, chains=["tracing_oss", "tracing"]))
    assert not res.get("failed"), res
    assert [c["name"] for c in res["chains"]] == ["tracing", "tracing_oss"]
    assert lab.revisions(HOST) == NEW


def test_multiple_heads_refused(lab):
    base = "/app/oss/databases/postgres/migrations/core_oss/versions/"
    image = make_broken_image(lab, HOST, NEW_G3, "fleet-test/two-heads:1", {
        base + "c055000000f1_second_head.py": revision_file("c055000000f1", "c05500000002"),
        base + "c055000000f2_third.py": revision_file("c055000000f2", "c055000000f1"),
    })
    res = migrate(lab, HOST, oneshot(image))
    assert res.get("failed") and res["changed"] is False
    assert res["msg"] == ("Chain core_oss has 2 heads (c05500000003, c055000000f2); Alembic would fail with "
                          "'Multiple head revisions'.")
    info = migrate(lab, HOST, oneshot(image), module="agenta.fleet.alembic_migration_info")
    assert not info.get("failed"), info
    assert by_name(info)["core_oss"]["pending"] is None and by_name(info)["core_oss"]["note"] == "the chain has 2 heads"
    assert lab.revisions(HOST) == NEW


def test_self_referencing_revision_refused(lab):
    base = "/app/oss/databases/postgres/migrations/tracing_oss/versions/"
    image = make_broken_image(lab, HOST, NEW_G3, "fleet-test/self-ref:1", {
        base + "7a55000000ff_loop.py": revision_file("7a55000000ff", "7a55000000ff"),
    })
    res = migrate(lab, HOST, oneshot(image))
    assert res.get("failed") and res["changed"] is False
    assert res["msg"] == ("Revision 7a55000000ff of chain tracing_oss names itself as its down_revision; Alembic "
                          "cannot place it in the chain.")
    assert lab.revisions(HOST) == NEW


def test_unknown_revision_and_chain_refused(lab):
    res = migrate(lab, HOST, oneshot(NEW_G3, state="downgraded", targets={"core": "deadbeef"}))
    assert res.get("failed") and res["msg"] == "Revision deadbeef is not in chain core."
    res = migrate(lab, HOST, oneshot(NEW_G3, chains=["oss"]))
    assert res.get("failed") and res["msg"] == "Chain oss is not in this image (layout g3 has core, core_oss, tracing, tracing_oss)."
    res = migrate(lab, HOST, oneshot(NEW_G3, state="downgraded", targets={"core_oss": "head"}))
    assert res.get("failed") and res["msg"].startswith("Refusing to downgrade to head")
    assert lab.revisions(HOST) == NEW


def test_exec_by_compose_labels_in_old_container(lab):
    """docker exec into the running (old image) api container: its tree does not know c05500000003."""
    res = migrate(lab, HOST, {"compose_project": "agenta-oss-gh", "compose_service": "api"})
    assert res.get("failed")
    assert res["msg"].startswith("Chain core_oss is at c05500000003, which this image does not know")
    assert res["where"] == "container agenta-oss-gh-api-1"


def test_driver_without_psycopg2_uses_asyncpg(lab):
    """The driver's fallback database client: psycopg2 made unimportable, the lock and reads go through asyncpg."""
    driver, marker, spec_env = driver_source()
    wrapper = "import sys\nsys.modules['psycopg2'] = None\n" + driver

    def run(spec):
        proc = lab.sh(HOST, "docker", "exec", "-e", "PYTHONPATH=/app", "-e", f"{spec_env}={json.dumps(spec)}",
                      "-w", "/app/oss/databases/postgres/migrations", "fleet-test-asyncpg", "python3", "-c", wrapper)
        line = [x for x in proc.stdout.splitlines() if x.startswith(marker)][-1]
        return json.loads(line[len(marker):])

    lab.sh(HOST, "docker", "rm", "-f", "fleet-test-asyncpg", check=False)
    lab.sh(HOST, "docker", "run", "-d", "--name", "fleet-test-asyncpg", "--network", "agenta-oss-gh_default",
           "--env-file", ENV_FILE, "--entrypoint", "sleep", NEW_G3, "300")
    try:
        res = run({"action": "downgrade", "chains": ["tracing_oss"], "targets": {"tracing_oss": "7a5500000001"},
                   "allow_irreversible": True, "lock_timeout": 30, "holder": "asyncpg-test"})
        assert res["ok"], res
        assert lab.revision(HOST, "tracing_oss") == "7a5500000001"
        res = run({"action": "upgrade", "lock_timeout": 30, "holder": "asyncpg-test"})
        assert res["ok"] and res["changed"], res
        assert lab.revisions(HOST) == NEW
    finally:
        lab.sh(HOST, "docker", "rm", "-f", "fleet-test-asyncpg", check=False)
