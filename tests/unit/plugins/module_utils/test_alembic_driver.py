"""Unit tests of the in-container driver: layout detection, ordering, planning and refusals.

The driver is a string (it is shipped to ``python3 -c``); the tests exec it into a namespace and
drive its functions against fake image trees under tmp_path and a fake database.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest


import fleet_collection_path  # noqa: F401,E402  (puts ansible_collections.agenta.fleet on sys.path)

from ansible_collections.agenta.fleet.plugins.module_utils import alembic_common
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_driver import DRIVER, MARKER, SPEC_ENV

OSS = "/app/oss/databases/postgres/migrations"
EE = "/app/ee/databases/postgres/migrations"


@pytest.fixture()
def drv():
    namespace = {"__name__": "agenta_fleet_driver_under_test"}
    exec(compile(DRIVER, "<alembic driver>", "exec"), namespace)
    return namespace


@pytest.fixture(autouse=True)
def keep_process_state():
    cwd, path = os.getcwd(), list(sys.path)
    yield
    os.chdir(cwd)
    sys.path[:] = path


def write_ini(root, name):
    folder = root + (OSS if not name.endswith("_ee") else EE) + ("" if name == "oss" else "/" + name)
    os.makedirs(folder + "/versions", exist_ok=True)
    ini = "alembic.oss.ini" if name == "oss" else "alembic.ini"
    with open(os.path.join(folder, ini), "w") as handle:
        handle.write("[alembic]\nscript_location = %s\n" % folder)
    return folder


REVERSIBLE = ("op_create()", "op_drop()")


def write_rev(folder, rev, down, upgrade="op_create()", downgrade="op_drop()"):
    body = textwrap.dedent('''\
        """rev {rev}"""
        revision = {rev!r}
        down_revision = {down!r}
        branch_labels = None


        def upgrade():
            {up}


        def downgrade():
            {dn}
        ''').format(rev=rev, down=down, up=upgrade, dn=downgrade)
    with open(os.path.join(folder, "versions", "%s_x.py" % rev), "w") as handle:
        handle.write(body)


def g1_tree(root):
    folder = write_ini(root, "oss")
    write_rev(folder, "1a01", None)
    write_rev(folder, "1a02", "1a01")
    write_rev(folder, "1a03", "1a02")
    write_rev(folder, "1a04", "1a03", downgrade="pass")
    write_rev(folder, "1a05", "1a04", downgrade='raise NotImplementedError("restore from a backup")')
    write_rev(folder, "1a06", "1a05")
    return folder


def g3_tree(root, ee=False):
    core = write_ini(root, "core")
    write_rev(core, "c001", None)
    write_rev(core, "c002", "c001")
    write_rev(core, "park00000000", "c002", upgrade="pass", downgrade="pass")
    tracing = write_ini(root, "tracing")
    write_rev(tracing, "t001", None)
    write_rev(tracing, "park00000000", "t001", upgrade="pass", downgrade="pass")
    core_oss = write_ini(root, "core_oss")
    write_rev(core_oss, "co01", None)
    write_rev(core_oss, "co02", "co01")
    write_rev(core_oss, "co03", "co02", downgrade="raise NotImplementedError")
    tracing_oss = write_ini(root, "tracing_oss")
    write_rev(tracing_oss, "to01", None)
    write_rev(tracing_oss, "to02", "to01", downgrade="pass")
    if ee:
        core_ee = write_ini(root, "core_ee")
        write_rev(core_ee, "ce01", None)
        tracing_ee = write_ini(root, "tracing_ee")
        write_rev(tracing_ee, "te01", None)


class FakeDatabase(object):
    """Stands for the driver's Database: version tables per database in a dict."""

    state = {}
    locks = []

    def __init__(self, url, appname, timeout=10):
        self.url = url
        self.dbname = url.rsplit("/", 1)[1]

    def current(self, table):
        return list(self.state.get((self.dbname, table), []))

    def try_lock(self):
        FakeDatabase.locks.append(self.dbname)
        return True

    def query(self, sql, args=()):
        return []

    def holder(self):
        return None

    def name(self):
        return self.dbname

    def close(self):
        pass


@pytest.fixture()
def fakedb(drv, monkeypatch):
    FakeDatabase.state = {}
    FakeDatabase.locks = []
    drv["Database"] = FakeDatabase
    for var in ("POSTGRES_URI", "POSTGRES_URI_CORE", "POSTGRES_URI_TRACING"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("POSTGRES_URI", "postgresql+asyncpg://username:password@postgres:5432/agenta_oss")
    monkeypatch.setenv("POSTGRES_URI_CORE", "postgresql+asyncpg://username:password@postgres:5432/agenta_oss_core")
    monkeypatch.setenv("POSTGRES_URI_TRACING", "postgresql+asyncpg://username:password@postgres:5432/agenta_oss_tracing")
    return FakeDatabase.state


def plan(drv, root, **spec):
    spec.setdefault("action", "upgrade")
    spec.setdefault("check", True)
    return drv["main"](spec, root)


# -- layout detection and ordering ------------------------------------------------------------


def test_detect_nothing(drv, tmp_path):
    assert drv["detect_layout"](str(tmp_path)) == (None, "oss", [])


def test_detect_g1(drv, tmp_path):
    g1_tree(str(tmp_path))
    assert drv["detect_layout"](str(tmp_path)) == ("g1", "oss", ["oss"])


def test_detect_g2(drv, tmp_path):
    write_ini(str(tmp_path), "tracing")
    write_ini(str(tmp_path), "core")
    assert drv["detect_layout"](str(tmp_path)) == ("g2", "oss", ["core", "tracing"])


def test_detect_g3_in_runner_order(drv, tmp_path):
    g3_tree(str(tmp_path))
    assert drv["detect_layout"](str(tmp_path)) == ("g3", "oss", ["core", "core_oss", "tracing", "tracing_oss"])


def test_detect_g3_ee(drv, tmp_path):
    g3_tree(str(tmp_path), ee=True)
    layout, edition, chains = drv["detect_layout"](str(tmp_path))
    assert (layout, edition) == ("g3", "ee")
    assert chains == ["core", "core_oss", "core_ee", "tracing", "tracing_oss", "tracing_ee"]


def test_split_layout_wins_over_a_leftover_g1_ini(drv, tmp_path):
    g1_tree(str(tmp_path))
    write_ini(str(tmp_path), "core")
    assert drv["detect_layout"](str(tmp_path))[0] == "g2"


def test_order_chains_ignores_given_order(drv):
    assert drv["order_chains"](["tracing_oss", "core", "tracing", "core_oss"]) == [
        "core", "core_oss", "tracing", "tracing_oss"]


def test_chain_ini_paths(drv):
    assert drv["chain_ini"]("oss") == OSS + "/alembic.oss.ini"
    assert drv["chain_ini"]("core_oss") == OSS + "/core_oss/alembic.ini"
    assert drv["chain_ini"]("tracing_ee") == EE + "/tracing_ee/alembic.ini"


def test_module_side_chain_order_matches_driver(drv):
    assert tuple(drv["ORDER"]) == alembic_common.CHAIN_ORDER


# -- database URLs and masking ----------------------------------------------------------------


def test_chain_url_drops_asyncpg(drv):
    env = {"POSTGRES_URI_CORE": "postgresql+asyncpg://u:p@postgres:5432/agenta_oss_core"}
    assert drv["chain_url"]("core_oss", env) == "postgresql://u:p@postgres:5432/agenta_oss_core"


def test_chain_url_fallback_from_parts(drv):
    env = {"POSTGRES_USER": "me", "POSTGRES_PASSWORD": "p@ss/word", "POSTGRES_DB_PREFIX": "acme"}
    assert drv["chain_url"]("tracing_oss", env) == "postgresql://me:p%40ss%2Fword@postgres:5432/acme_tracing"
    assert drv["chain_url"]("oss", env) == "postgresql://me:p%40ss%2Fword@postgres:5432/acme"


def test_driver_mask(drv):
    env = {"POSTGRES_PASSWORD": "s3cret!"}
    text = "connect postgresql+asyncpg://username:s3cret!@postgres:5432/db failed; pw s3cret!"
    masked = drv["mask"](text, env)
    assert "s3cret" not in masked
    assert "username:********@postgres" in masked


# -- reading revision files -------------------------------------------------------------------


def test_scan_revision_file(drv, tmp_path):
    folder = write_ini(str(tmp_path), "core")
    write_rev(folder, "c002", "c001")
    path = os.path.join(folder, "versions", "c002_x.py")
    assert drv["scan_revision_file"](path) == ("c002", ("c001",))


def test_scan_merge_revision(drv, tmp_path):
    path = tmp_path / "m.py"
    path.write_text("revision: str = 'm1'\ndown_revision = ('a', 'b')\n")
    assert drv["scan_revision_file"](str(path)) == ("m1", ("a", "b"))


@pytest.mark.parametrize("up,down,kind", [
    ("op()", "raise NotImplementedError('restore from a backup')", "raises"),
    ("op()", "raise NotImplementedError", "raises"),
    ("op()", "if True:\n        raise NotImplementedError()", "raises"),
    ("op()", "pass", "empty"),
    ("op()", '"""Nothing to undo."""', "empty"),
    ("op()", "...", "empty"),
    ("pass", "pass", None),
    ("op()", "op_drop()", None),
])
def test_downgrade_kind(drv, up, down, kind):
    source = "def upgrade():\n    %s\n\n\ndef downgrade():\n    %s\n" % (up, down)
    assert drv["downgrade_kind"](source) == kind


def test_graph_paths(drv):
    graph = drv["Graph"]({"a": (), "b": ("a",), "c": ("b",), "d": ("c",)})
    assert graph.heads() == ["d"]
    assert graph.upgrade_path(["b"], "d") == ["c", "d"]
    assert graph.upgrade_path([], "d") == ["a", "b", "c", "d"]
    assert graph.downgrade_path(["d"], "b") == ["d", "c"]
    assert graph.downgrade_path(["d"], "base") == ["d", "c", "b", "a"]


def test_graph_two_heads(drv):
    graph = drv["Graph"]({"a": (), "b": ("a",), "c": ("a",)})
    assert graph.heads() == ["b", "c"]


# -- planning and refusals --------------------------------------------------------------------


def test_g1_pending_in_check_mode(drv, tmp_path, fakedb):
    g1_tree(str(tmp_path))
    fakedb[("agenta_oss", "alembic_version")] = ["1a02"]
    out = plan(drv, str(tmp_path))
    assert out["ok"], out
    assert out["layout"] == "g1"
    (chain,) = out["chains"]
    assert chain["name"] == "oss"
    assert chain["before"] == "1a02"
    assert chain["pending"] == ["1a03", "1a04", "1a05", "1a06"]
    assert chain["after"] == "1a02"
    assert out["changed"] is False
    assert FakeDatabase.locks == []  # check mode takes no lock


def test_nothing_pending_at_head(drv, tmp_path, fakedb):
    g1_tree(str(tmp_path))
    fakedb[("agenta_oss", "alembic_version")] = ["1a06"]
    out = plan(drv, str(tmp_path), check=False)
    assert out["ok"] and not out["changed"]
    assert out["chains"][0]["pending"] == []
    assert FakeDatabase.locks == []  # a no-op run does not even wait for the lock
    assert out["lock_wait"] is None


def test_real_run_takes_the_lock_per_database_in_order(drv, tmp_path, fakedb, monkeypatch):
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_tracing", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_tracing", "alembic_version_oss")] = ["to01"]
    monkeypatch.setattr(drv["Run"], "execute", lambda self: None)
    out = plan(drv, str(tmp_path), check=False)
    assert out["ok"], out
    assert FakeDatabase.locks == ["agenta_oss_core", "agenta_oss_tracing"]
    assert out["lock_wait"] >= 0


def test_g3_order_and_pending(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_core", "alembic_version_oss")] = ["co01"]
    fakedb[("agenta_oss_tracing", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_tracing", "alembic_version_oss")] = ["to01"]
    out = plan(drv, str(tmp_path))
    assert out["ok"], out
    assert [c["name"] for c in out["chains"]] == ["core", "core_oss", "tracing", "tracing_oss"]
    assert {c["name"]: c["pending"] for c in out["chains"]} == {
        "core": [], "core_oss": ["co02", "co03"], "tracing": [], "tracing_oss": ["to02"]}


def test_explicit_chains_keep_runner_order(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    out = plan(drv, str(tmp_path), chains=["tracing", "core"])
    assert [c["name"] for c in out["chains"]] == ["core", "tracing"]


def test_oss_chain_refused_when_legacy_not_parked(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["c001"]
    out = plan(drv, str(tmp_path), chains=["core_oss"])
    assert not out["ok"] and out["refused"]
    assert out["error"] == ("Refusing to upgrade chain core_oss: its legacy chain core is at c001, not parked at "
                            "park00000000; run core first (or include it in the same run).")


def test_oss_chain_allowed_when_legacy_parks_in_same_run(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["c001"]
    fakedb[("agenta_oss_tracing", "alembic_version")] = ["t001"]
    out = plan(drv, str(tmp_path))
    assert out["ok"], out
    assert out["chains"][0]["pending"] == ["c002", "park00000000"]


def test_oss_chain_refused_when_legacy_target_stops_short(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["c001"]
    out = plan(drv, str(tmp_path), chains=["core", "core_oss"], targets={"core": "c002"})
    assert out["refused"] and "legacy chain core is at c001" in out["error"]


def test_multiple_heads_refused(drv, tmp_path, fakedb):
    folder = g1_tree(str(tmp_path))
    write_rev(folder, "1a07", "1a06")
    write_rev(folder, "1a08", "1a06")
    out = plan(drv, str(tmp_path))
    assert out["refused"]
    assert out["error"] == "Chain oss has 2 heads (1a07, 1a08); Alembic would fail with 'Multiple head revisions'."


def test_self_reference_refused(drv, tmp_path, fakedb):
    folder = g1_tree(str(tmp_path))
    write_rev(folder, "1a07", "1a07")
    out = plan(drv, str(tmp_path))
    assert out["refused"]
    assert out["error"] == ("Revision 1a07 of chain oss names itself as its down_revision; Alembic cannot place "
                            "it in the chain.")


def test_unknown_target_refused(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    out = plan(drv, str(tmp_path), targets={"core": "deadbeef"})
    assert out["error"] == "Revision deadbeef is not in chain core."


def test_unknown_current_refused(drv, tmp_path, fakedb):
    g1_tree(str(tmp_path))
    fakedb[("agenta_oss", "alembic_version")] = ["1a99"]
    out = plan(drv, str(tmp_path))
    assert out["refused"] and out["error"].startswith("Chain oss is at 1a99, which this image does not know")


def test_chain_not_in_image_refused(drv, tmp_path, fakedb):
    g1_tree(str(tmp_path))
    out = plan(drv, str(tmp_path), chains=["core"])
    assert out["error"] == "Chain core is not in this image (layout g1 has oss)."


def test_no_layout_refused(drv, tmp_path, fakedb):
    out = plan(drv, str(tmp_path))
    assert out["refused"] and out["error"].startswith("This image has no Alembic configuration")


def test_downgrade_head_refused_by_driver_too(drv, tmp_path, fakedb):
    g1_tree(str(tmp_path))
    fakedb[("agenta_oss", "alembic_version")] = ["1a06"]
    out = plan(drv, str(tmp_path), action="downgrade", chains=["oss"], targets={"oss": "head"})
    assert out["error"].startswith("Refusing to downgrade to head: 'alembic downgrade head' is a silent no-op")


def test_downgrade_through_not_implemented_refused(drv, tmp_path, fakedb):
    g1_tree(str(tmp_path))
    fakedb[("agenta_oss", "alembic_version")] = ["1a06"]
    out = plan(drv, str(tmp_path), action="downgrade", chains=["oss"], targets={"oss": "1a02"})
    assert out["error"] == ("Refusing to downgrade chain oss through 1a05: its downgrade raises NotImplementedError; "
                            "restore from a backup or set allow_irreversible: true.")


def test_downgrade_through_pass_refused(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_tracing", "alembic_version_oss")] = ["to02"]
    out = plan(drv, str(tmp_path), action="downgrade", chains=["tracing_oss"], targets={"tracing_oss": "to01"})
    assert out["error"].startswith("Refusing to downgrade chain tracing_oss through to02: its downgrade does nothing")


def test_downgrade_irreversible_allowed(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_tracing", "alembic_version_oss")] = ["to02"]
    out = plan(drv, str(tmp_path), action="downgrade", chains=["tracing_oss"], targets={"tracing_oss": "to01"},
               allow_irreversible=True)
    assert out["ok"], out
    assert out["chains"][0]["pending"] == ["to02"]


def test_downgrade_reversible_plan(drv, tmp_path, fakedb):
    g1_tree(str(tmp_path))
    fakedb[("agenta_oss", "alembic_version")] = ["1a06"]
    out = plan(drv, str(tmp_path), action="downgrade", chains=["oss"], targets={"oss": "1a05"})
    assert out["ok"] and out["chains"][0]["pending"] == ["1a06"]


def test_downgrade_of_empty_park_revision_is_not_irreversible(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["park00000000"]
    out = plan(drv, str(tmp_path), action="downgrade", chains=["core"], targets={"core": "c002"})
    assert out["ok"], out


def test_downgrade_order_is_reversed(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_core", "alembic_version_oss")] = ["co02"]
    out = plan(drv, str(tmp_path), action="downgrade", chains=["core", "core_oss"],
               targets={"core": "c002", "core_oss": "co01"})
    assert [c["name"] for c in out["chains"]] == ["core_oss", "core"]


def test_downgrade_above_current_refused(drv, tmp_path, fakedb):
    g1_tree(str(tmp_path))
    fakedb[("agenta_oss", "alembic_version")] = ["1a02"]
    out = plan(drv, str(tmp_path), action="downgrade", chains=["oss"], targets={"oss": "1a04"})
    assert out["error"] == "Cannot downgrade chain oss to 1a04: the chain is at 1a02, below it."


def test_info_tolerates_multiple_heads(drv, tmp_path, fakedb):
    folder = g1_tree(str(tmp_path))
    write_rev(folder, "1a07", "1a06")
    write_rev(folder, "1a08", "1a06")
    out = plan(drv, str(tmp_path), action="info")
    assert out["ok"]
    assert out["chains"][0]["heads"] == ["1a07", "1a08"]


def test_driver_prints_one_marked_json_line(tmp_path, fakedb):
    """Run the driver as the container does (python -c), with an empty image root."""
    import subprocess
    env = dict(os.environ)
    env[SPEC_ENV] = json.dumps({"action": "info", "root": str(tmp_path)})
    proc = subprocess.run([sys.executable, "-c", DRIVER], env=env, capture_output=True, text=True, timeout=60, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(MARKER)
    result = alembic_common.parse_driver_output(proc.stdout)
    assert result["ok"] is False and result["error"].startswith("This image has no Alembic configuration")
