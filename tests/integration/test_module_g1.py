"""agenta.fleet.alembic_migration on real lab hosts, G1 layout (single tree `oss`, one transaction per run).

One lab (staging-1 + production-1) at v0.43.0 (oss at 1a0000000002) for the whole module; the tests run in
file order and each leaves the database where the next expects it. Every assertion about the database is a
real psql query on the lab host.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from role_support import start_lab
from test_module_support import LOCK_KEY, NEW_G1, OLD_G1_HEAD, concurrent_runs, migrate, oneshot

HOST = "staging-1"
HEAD = "1a0000000006"


@pytest.fixture(scope="module")
def lab(lab_factory):
    return start_lab(lab_factory, "v0.43.0")


def column_exists(lab, table, column):
    return lab.psql(HOST, "agenta_oss", "SELECT count(*) FROM information_schema.columns "
                    f"WHERE table_name = '{table}' AND column_name = '{column}'") == "1"


def table_exists(lab, table):
    return lab.psql(HOST, "agenta_oss", f"SELECT to_regclass('{table}') IS NOT NULL") == "t"


def test_check_mode_before_upgrade(lab):
    res = migrate(lab, HOST, oneshot(NEW_G1), check=True, diff=True)
    assert not res.get("failed"), res
    assert res["changed"] is True and res["layout"] == "g1"
    (chain,) = res["chains"]
    assert chain["name"] == "oss"
    assert chain["before"] == OLD_G1_HEAD and chain["after"] == HEAD
    assert chain["pending"] == ["1a0000000003", "1a0000000004", "1a0000000005", HEAD]
    assert chain["applied"] == []
    assert res["diff"] == {"before": f"oss: {OLD_G1_HEAD}\n", "after": f"oss: {HEAD}\n"}
    assert lab.revision(HOST, "oss") == OLD_G1_HEAD
    assert not table_exists(lab, "api_keys")


def test_failure_switch_rolls_back_the_whole_run(lab):
    res = migrate(lab, HOST, oneshot(NEW_G1, env={"AGENTA_LAB_FAIL_REVISION": "1a0000000004"}))
    assert res.get("failed")
    assert res["msg"].startswith("Revision 1a0000000004 of chain oss failed: ")
    assert res["msg"].endswith(f"; chain oss stands at {OLD_G1_HEAD}.")
    assert "Traceback" not in res["msg"]
    assert lab.revision(HOST, "oss") == OLD_G1_HEAD
    # G1 runs in one transaction: 1a0000000003's column is gone with the rest.
    assert not column_exists(lab, "apps", "app_slug")
    assert not table_exists(lab, "api_keys")


def test_upgrade_from_old_release(lab):
    rows_before = lab.row_counts(HOST)
    res = migrate(lab, HOST, oneshot(NEW_G1))
    assert not res.get("failed"), res
    assert res["changed"] is True
    (chain,) = res["chains"]
    assert chain["before"] == OLD_G1_HEAD and chain["after"] == HEAD
    assert chain["applied"] == ["1a0000000003", "1a0000000004", "1a0000000005", HEAD]
    assert "Running upgrade 1a0000000005 -> 1a0000000006" in chain["output"]
    assert ":password@" not in chain["output"]
    assert chain["duration"] > 0
    assert lab.revision(HOST, "oss") == HEAD
    assert table_exists(lab, "traces") and column_exists(lab, "apps", "app_slug")
    assert lab.row_counts(HOST) == rows_before


def test_run_again_is_not_changed(lab):
    res = migrate(lab, HOST, oneshot(NEW_G1))
    assert not res.get("failed"), res
    assert res["changed"] is False
    assert res["chains"][0]["applied"] == [] and res["chains"][0]["pending"] == []


def test_check_mode_after_upgrade(lab):
    res = migrate(lab, HOST, oneshot(NEW_G1), check=True, diff=True)
    assert res["changed"] is False and res["chains"][0]["pending"] == []
    assert res["diff"]["before"] == res["diff"]["after"] == f"oss: {HEAD}\n"


def test_exec_in_old_container_refuses_unknown_revision(lab):
    """The running api container still has the old image: its tree does not know the new revisions."""
    res = migrate(lab, HOST, {})
    assert res.get("failed")
    assert res["msg"].startswith(f"Chain oss is at {HEAD}, which this image does not know")
    assert lab.revision(HOST, "oss") == HEAD


def test_downgrade_to_recorded_revision_refused_when_irreversible(lab):
    res = migrate(lab, HOST, oneshot(NEW_G1, state="downgraded", targets={"oss": OLD_G1_HEAD}))
    assert res.get("failed") and res["changed"] is False
    assert res["msg"] == ("Refusing to downgrade chain oss through 1a0000000005: its downgrade raises "
                          "NotImplementedError; restore from a backup or set allow_irreversible: true.")
    assert lab.revision(HOST, "oss") == HEAD


def test_irreversible_downgrade_allowed_fails_at_that_revision(lab):
    res = migrate(lab, HOST, oneshot(NEW_G1, state="downgraded", targets={"oss": OLD_G1_HEAD},
                                     allow_irreversible=True))
    assert res.get("failed")
    assert res["msg"].startswith("Revision 1a0000000005 of chain oss failed: NotImplementedError")
    assert res["msg"].endswith(f"chain oss stands at {HEAD}.")  # one transaction: 1a0000000006's downgrade undone too
    assert lab.revision(HOST, "oss") == HEAD
    assert table_exists(lab, "traces")


def test_downgrade_to_recorded_revision_and_back(lab):
    res = migrate(lab, HOST, oneshot(NEW_G1, state="downgraded", targets={"oss": "1a0000000005"}), diff=True)
    assert not res.get("failed"), res
    assert res["changed"] is True and res["chains"][0]["applied"] == [HEAD]
    assert res["diff"] == {"before": f"oss: {HEAD}\n", "after": "oss: 1a0000000005\n"}
    assert lab.revision(HOST, "oss") == "1a0000000005"
    assert not table_exists(lab, "traces")
    again = migrate(lab, HOST, oneshot(NEW_G1, state="downgraded", targets={"oss": "1a0000000005"}))
    assert again["changed"] is False and not again.get("failed")


def test_two_runs_at_once_on_one_database(lab):
    assert lab.revision(HOST, "oss") == "1a0000000005"
    first, second = concurrent_runs(lab, HOST, oneshot(NEW_G1))
    assert not first.get("failed") and not second.get("failed"), (first, second)
    assert sorted([first["changed"], second["changed"]]) == [False, True]
    assert lab.revision(HOST, "oss") == HEAD


def test_lock_holder_named_after_timeout(lab):
    holder = lab_lock_holder(lab, seconds=20)
    try:
        res = migrate(lab, HOST, oneshot(NEW_G1, state="downgraded", targets={"oss": "1a0000000005"},
                                         lock_timeout=2))
        assert res.get("failed")
        assert res["msg"].startswith("Timed out after 2 s waiting for the migration lock on database agenta_oss, "
                                     "held by fleet-test-holder (backend pid ")
        assert lab.revision(HOST, "oss") == HEAD
    finally:
        holder.kill()
        holder.wait()
        lab.psql(HOST, "agenta_oss", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 "WHERE application_name = 'fleet-test-holder'")


def test_second_run_waits_for_the_lock(lab):
    holder = lab_lock_holder(lab, seconds=4)
    try:
        started = time.monotonic()
        res = migrate(lab, HOST, oneshot(NEW_G1, lock_timeout=60, state="downgraded", targets={"oss": "1a0000000005"}))
        assert not res.get("failed"), res
        assert res["changed"] is True
        assert time.monotonic() - started >= 3
    finally:
        holder.wait()
    res = migrate(lab, HOST, oneshot(NEW_G1))
    assert res["changed"] is True and lab.revision(HOST, "oss") == HEAD


def lab_lock_holder(lab, seconds):
    """A psql session on the host that takes the module's advisory lock and keeps it for `seconds`."""
    container = lab.hosts[HOST].container
    proc = subprocess.Popen(
        ["docker", "exec", "-e", "PGPASSWORD=password", "-e", "PGAPPNAME=fleet-test-holder", container,
         "psql", "-h", "127.0.0.1", "-U", "username", "-d", "agenta_oss", "-tA",
         "-c", f"SELECT pg_advisory_lock({LOCK_KEY})", "-c", f"SELECT pg_sleep({seconds})"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Wait until the lock is really held.
    for _attempt in range(50):
        held = lab.psql(HOST, "agenta_oss", "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        f"AND objid = {LOCK_KEY} AND granted")
        if held == "1":
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the test's psql session did not take the lock")


def test_downgrade_to_head_refused(lab):
    res = migrate(lab, HOST, oneshot(NEW_G1, state="downgraded", targets={"oss": "head"}))
    assert res.get("failed") and res["msg"] == ("Refusing to downgrade to head: 'alembic downgrade head' is a silent "
                                                "no-op; name the revision to return to.")


def test_unknown_revision_refused(lab):
    res = migrate(lab, HOST, oneshot(NEW_G1, targets={"oss": "deadbeef"}))
    assert res.get("failed") and res["msg"] == "Revision deadbeef is not in chain oss."
    res = migrate(lab, HOST, oneshot(NEW_G1, state="downgraded", targets={"oss": "deadbeef"}))
    assert res.get("failed") and res["msg"] == "Revision deadbeef is not in chain oss."


def test_container_missing_stopped_and_docker_unreachable(lab):
    res = migrate(lab, HOST, {"container": "agenta-oss-gh-nope-1"})
    assert res.get("failed") and res["msg"] == "Could not find container agenta-oss-gh-nope-1."
    res = migrate(lab, HOST, {"docker_host": "unix:///run/nowhere.sock"})
    assert res.get("failed") and res["msg"].startswith("Could not reach the Docker engine at unix:///run/nowhere.sock: ")
    lab.sh(HOST, "docker", "stop", "-t", "1", "agenta-oss-gh-api-1")
    try:
        res = migrate(lab, HOST, {})
        assert res.get("failed") and res["msg"] == "Container agenta-oss-gh-api-1 is not running (status exited)."
        res = migrate(lab, HOST, oneshot("ghcr.io/agenta-ai/agenta-api:v9.9.9"))
        assert res.get("failed") and res["msg"] == "Image ghcr.io/agenta-ai/agenta-api:v9.9.9 is not on this host; pull it first."
    finally:
        lab.sh(HOST, "docker", "start", "agenta-oss-gh-api-1")
    assert lab.revision(HOST, "oss") == HEAD


def test_seed_contract_exec_after_recreate(lab):
    """After the containers run the new image, the exec mode (the seed's one-liner, done right) is a no-op."""
    lab.set_env(HOST, AGENTA_API_IMAGE_TAG="v0.44.4")
    lab.compose(HOST, "up", "-d", "api")
    res = migrate(lab, HOST, {"compose_project": "agenta-oss-gh", "compose_service": "api"})
    assert not res.get("failed"), res
    assert res["changed"] is False and res["where"] == "container agenta-oss-gh-api-1"
    info = migrate(lab, HOST, {}, module="agenta.fleet.alembic_migration_info")
    assert info["revisions"] == {"oss": HEAD} and info["pending_total"] == 0
    assert info["chains"][0]["config"] == "/app/oss/databases/postgres/migrations/alembic.oss.ini"
