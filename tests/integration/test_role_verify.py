"""agenta.fleet.verify on real lab hosts, G1 (v0.43.0 -> v0.44.4 with the seed's manual command) and G3
(v0.104.0 -> v0.113.0 with Agenta's own auto-migration). It passes on a healthy host and after the upgrade, and
fails with one sentence naming the first problem: a chain behind its head or target, the api container stopped,
no health answer, a table with fewer rows than a manifest written here by hand.
"""

from __future__ import annotations

import json

import pytest

from role_support import (apply_role, changed_count, container_states, failed_tasks, failure, password_leaked,
                          start_lab, task_result)

HOST = "staging-1"
API = "agenta-oss-gh-api-1"
MANIFEST = "/tmp/verify-manifest.json"
SEED_CMD = ["docker", "exec", "-e", "PYTHONPATH=/app", "-w", "/app/oss/databases/postgres/migrations", API,
            "alembic", "-c", "alembic.oss.ini", "upgrade", "head"]


@pytest.fixture(scope="module")
def g1(lab_factory):
    return start_lab(lab_factory, "v0.43.0", production=0)


@pytest.fixture(scope="module")
def g3(lab_factory):
    return start_lab(lab_factory, "v0.104.0", production=0)


def write_manifest(lab, counts, extra=None):
    """A manifest in agenta.fleet.backup's shape: databases[] with name and tables {table: rows}."""
    dbs = {}
    for key, rows in {**counts, **(extra or {})}.items():
        db, table = key.split(".", 1)
        dbs.setdefault(db, {})[table] = rows
    doc = {"tool": "agenta.fleet.backup", "manifest_version": 1,
           "databases": [{"name": db, "tables": tables} for db, tables in dbs.items()]}
    lab.sh(HOST, "tee", MANIFEST, input=json.dumps(doc))


def verify(lab, role_vars=None, check=False):
    return apply_role(lab, "verify", HOST, role_vars, check=check)


# ------------------------------------------------------------------------------------------------ G1
def test_g1_fresh_host_passes_in_check_mode_too(g1):
    states = container_states(g1, HOST)
    for check in (False, True):
        run = verify(g1, check=check)
        assert run.rc == 0, run.stdout[-3000:]
        assert changed_count(run, HOST) == 0
        assert not password_leaked(run)
        facts = task_result(run, HOST, "Record what was verified")["ansible_facts"]["verify_result"]
        assert facts["revisions"] == {"oss": "1a0000000002"} == {"oss": g1.revision(HOST, "oss")}
        assert facts["health_url"] == "http://127.0.0.1:80/api/health"
    assert container_states(g1, HOST) == states


def test_g1_new_image_without_migration_fails_naming_the_chain(g1):
    g1.set_env(HOST, AGENTA_API_IMAGE_TAG="v0.44.4")
    g1.compose(HOST, "up", "-d")
    assert g1.revision(HOST, "oss") == "1a0000000002"
    run = verify(g1)
    assert failure(run, HOST) == (f"Chain oss on {HOST} is at 1a0000000002, but its head is 1a0000000006; "
                                  "migrate it (agenta.fleet.migrate) and verify again.")


def test_g1_passes_after_the_upgrade_with_a_manifest(g1):
    g1.sh(HOST, *SEED_CMD)
    assert g1.revision(HOST, "oss") == "1a0000000006"
    write_manifest(g1, g1.row_counts(HOST))
    run = verify(g1, {"verify_manifest": MANIFEST, "verify_targets": {"oss": "1a0000000006"}})
    assert run.rc == 0, run.stdout[-3000:]
    facts = task_result(run, HOST, "Record what was verified")["ansible_facts"]["verify_result"]
    assert facts["row_counts"] == g1.row_counts(HOST)


def test_g1_chain_not_at_the_target_fails(g1):
    run = verify(g1, {"verify_targets": {"oss": "1a0000000002"}})
    assert failure(run, HOST) == (f"Chain oss on {HOST} is at 1a0000000006, but the target is 1a0000000002; "
                                  "migrate it to the target and verify again.")


def test_g1_fewer_rows_than_the_manifest_fails(g1):
    counts = g1.row_counts(HOST)
    write_manifest(g1, {**counts, "agenta_oss.apps": counts["agenta_oss.apps"] + 1})
    run = verify(g1, {"verify_manifest": MANIFEST})
    assert failure(run, HOST) == (f"Table agenta_oss.apps on {HOST} has {counts['agenta_oss.apps']} rows, fewer than "
                                  f"the {counts['agenta_oss.apps'] + 1} the backup manifest {MANIFEST} recorded; "
                                  "restore that backup (agenta.fleet.restore) or find where the rows went.")
    write_manifest(g1, counts, {"agenta_oss.gone_table": 5})
    run = verify(g1, {"verify_manifest": MANIFEST})
    assert failure(run, HOST).startswith(f"Table agenta_oss.gone_table on {HOST} is missing, fewer than the 5 ")


def test_g1_api_down_fails(g1):
    g1.sh(HOST, "docker", "stop", API)
    try:
        run = verify(g1)
        assert failure(run, HOST) == (f"The api container {API} on {HOST} is exited, not running; look at its logs "
                                      "(docker compose logs api), start it and verify again.")
    finally:
        g1.sh(HOST, "docker", "start", API)


def test_g1_no_health_answer_fails(g1):
    run = verify(g1, {"verify_health_url": "http://127.0.0.1:9/api/health",
                      "verify_health_retries": 1, "verify_health_delay": 1})
    msg = failure(run, HOST)
    assert msg.startswith(f"The API health check http://127.0.0.1:9/api/health on {HOST} answered nothing (")
    # 1 x 1 s of waiting: asked after 0.25, 0.25 and 0.5 s again (agenta.fleet's deployment.health_waits).
    assert msg.endswith(") instead of 200 after 4 tries; look at the api logs (docker compose logs api) and verify again.")
    # The first problem ends the role: the chains (read in the same call) are not judged, and nothing is recorded.
    assert [name.endswith("Require a deployment that runs as it should") for name, _res in failed_tasks(run, HOST)] == [True]
    assert task_result(run, HOST, "Record what was verified") is None


# ------------------------------------------------------------------------------------------------ G3
def test_g3_new_image_with_the_switch_off_fails_naming_core_oss(g3):
    g3.set_env(HOST, AGENTA_API_IMAGE_TAG="v0.113.0", ALEMBIC_AUTO_MIGRATIONS="false")
    g3.compose(HOST, "up", "-d")
    assert g3.revision(HOST, "core_oss") == "c05500000001"
    run = verify(g3)
    assert failure(run, HOST) == (f"Chain core_oss on {HOST} is at c05500000001, but its head is c05500000003; "
                                  "migrate it (agenta.fleet.migrate) and verify again.")


def test_g3_passes_after_auto_migration_with_a_manifest(g3):
    counts = g3.row_counts(HOST)
    write_manifest(g3, counts)
    g3.set_env(HOST, ALEMBIC_AUTO_MIGRATIONS="true")
    g3.compose(HOST, "up", "-d")
    assert g3.revisions(HOST) == {"core": "park00000000", "core_oss": "c05500000003",
                                  "tracing": "park00000000", "tracing_oss": "7a5500000002"}
    run = verify(g3, {"verify_manifest": MANIFEST})
    assert run.rc == 0, run.stdout[-3000:]
    facts = task_result(run, HOST, "Record what was verified")["ansible_facts"]["verify_result"]
    assert facts["row_counts"] == g3.row_counts(HOST) == counts
    assert set(facts["row_counts"]) >= {"agenta_oss_core.apps", "agenta_oss_tracing.spans"}
