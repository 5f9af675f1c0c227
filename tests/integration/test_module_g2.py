"""agenta.fleet.alembic_migration on a real lab host at v0.103.0 (G2: split core/tracing trees), migrated to
v0.113.0 (G3) with the new image: the legacy chains park and the *_oss chains start, in Agenta's order, in one
run. Assertions are real psql queries on the lab host.
"""

from __future__ import annotations

import pytest

from role_support import start_lab
from test_module_support import NEW_G3, migrate, oneshot

HOST = "staging-1"
PARK = "park00000000"
ORDER = ["core", "core_oss", "tracing", "tracing_oss"]


@pytest.fixture(scope="module")
def lab(lab_factory):
    return start_lab(lab_factory, "v0.103.0", production=0)


def test_info_in_the_g2_container(lab):
    res = migrate(lab, HOST, {}, module="agenta.fleet.alembic_migration_info")
    assert not res.get("failed"), res
    assert res["layout"] == "g2"
    assert res["revisions"] == {"core": "c0de00000004", "tracing": "7ace00000002"}
    assert res["pending_total"] == 0


def test_check_mode_g2_to_g3(lab):
    res = migrate(lab, HOST, oneshot(NEW_G3), check=True, diff=True)
    assert not res.get("failed"), res
    assert res["changed"] is True and res["layout"] == "g3"
    pending = {c["name"]: c["pending"] for c in res["chains"]}
    assert pending == {"core": [PARK], "core_oss": ["c05500000001", "c05500000002", "c05500000003"],
                       "tracing": [PARK], "tracing_oss": ["7a5500000001", "7a5500000002"]}
    assert res["diff"]["before"] == "core: c0de00000004\ncore_oss: base\ntracing: 7ace00000002\ntracing_oss: base\n"
    assert lab.revision(HOST, "core_oss") is None


def test_upgrade_to_a_given_revision(lab):
    res = migrate(lab, HOST, oneshot(NEW_G3, targets={"core_oss": "c05500000001"}))
    assert not res.get("failed"), res
    assert [c["name"] for c in res["chains"]] == ORDER
    assert {c["name"]: c["applied"] for c in res["chains"]} == {
        "core": [PARK], "core_oss": ["c05500000001"], "tracing": [PARK], "tracing_oss": ["7a5500000001", "7a5500000002"]}
    assert lab.revisions(HOST) == {"core": PARK, "core_oss": "c05500000001", "tracing": PARK,
                                   "tracing_oss": "7a5500000002"}


def test_upgrade_the_rest_to_head(lab):
    res = migrate(lab, HOST, oneshot(NEW_G3))
    assert not res.get("failed"), res
    assert {c["name"]: c["applied"] for c in res["chains"]} == {
        "core": [], "core_oss": ["c05500000002", "c05500000003"], "tracing": [], "tracing_oss": []}
    assert lab.revisions(HOST) == {"core": PARK, "core_oss": "c05500000003", "tracing": PARK,
                                   "tracing_oss": "7a5500000002"}
    again = migrate(lab, HOST, oneshot(NEW_G3))
    assert again["changed"] is False and not again.get("failed")
