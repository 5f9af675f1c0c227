"""Unit tests of the in-container driver: layout detection, ordering, planning and refusals.

The driver is a string (it is shipped to ``python3 -c``); the tests exec it into a namespace and
drive its functions against fake image trees under tmp_path and a fake database.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest


try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

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
    rows = {}  # database name -> {table: rows}

    def __init__(self, url, appname, timeout=10):
        self.url = url
        self.dbname = url.rsplit("/", 1)[1]

    def current(self, table):
        return list(self.state.get((self.dbname, table), []))

    def count_rows(self, table):
        return self.rows.get(self.dbname, {}).get(table)

    def table_counts(self):
        return dict(self.rows.get(self.dbname, {}))

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
    FakeDatabase.rows = {}
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


def test_two_files_with_one_revision_id_refused(drv, tmp_path, fakedb):
    folder = g1_tree(str(tmp_path))
    write_rev(folder, "1a07", "1a06")
    with open(os.path.join(folder, "versions", "1a07_copy.py"), "w") as handle:
        handle.write('revision = "1a07"\ndown_revision = "1a05"\n')
    out = plan(drv, str(tmp_path))
    assert out["refused"]
    assert out["error"] == ("Revision 1a07 of chain oss is defined twice (versions/1a07_copy.py and "
                            "versions/1a07_x.py); Alembic cannot tell which one to run, so use the image of another "
                            "release.")


def test_info_reports_several_heads_instead_of_failing(drv, tmp_path, fakedb):
    # The info module turns this into pending null and the summary sentence the upgrade refuses with.
    folder = g1_tree(str(tmp_path))
    write_rev(folder, "1a07", "1a06")
    write_rev(folder, "1a08", "1a06")
    out = plan(drv, str(tmp_path), action="info")
    assert not out.get("refused"), out
    assert out["chains"][0]["heads"] == ["1a07", "1a08"] and out["chains"][0]["target"] is None


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


# -- lossy downgrades and static effects of revisions ---------------------------------------------

LOSSY_CASES = [
    # upgrade destroys data, downgrade re-creates the container empty
    ('op.drop_table("session_states")', 'op.create_table("session_states", sa.Column("id", sa.UUID()))', "lossy"),
    ('op.drop_column("secrets", "slug")', 'op.add_column("secrets", sa.Column("slug", sa.String()))', "lossy"),
    ('op.get_bind().execute(sa.text("DELETE FROM api_keys WHERE project_id IS NULL"))', 'op.drop_index("ix")', "lossy"),
    ('op.execute("TRUNCATE TABLE nodes")', 'op.execute("SELECT 1")', "lossy"),
    ('op.execute("UPDATE mounts SET slug = lower(slug)")', 'op.execute("UPDATE mounts SET slug = upper(slug)")', "lossy"),
    ('op.execute("ALTER TABLE spans DROP COLUMN IF EXISTS agent_id")', 'op.execute("ALTER TABLE spans ADD COLUMN agent_id text")',
     "lossy"),
    # the destroying statement comes through a helper of the same file
    ('_cleanup()', 'op.create_table("old")', "lossy"),
    # new data only: not lossy
    ('op.add_column("q", sa.Column("user_ids", sa.ARRAY(sa.UUID())))\n    op.execute("UPDATE q SET user_ids = NULL")',
     'op.drop_column("q", "user_ids")', None),
    ('op.execute("CREATE TEMP TABLE repair (id int)")\n    op.execute("DELETE FROM repair")\n    op.execute("DROP TABLE repair")',
     'op.execute("SELECT 1")', None),
    ('op.create_table("t", sa.Column("id", sa.Integer))', 'op.drop_table("t")', None),
    # empty and raises win over lossy
    ('op.drop_table("nodes")', "pass", "empty"),
    ('op.drop_table("nodes")', 'raise NotImplementedError("restore from a backup")', "raises"),
]


@pytest.mark.parametrize("up,down,kind", LOSSY_CASES)
def test_downgrade_kind_lossy(drv, up, down, kind):
    source = ("import sqlalchemy as sa\nfrom alembic import op\n\n\ndef _cleanup():\n    op.drop_table('legacy')\n\n\n"
              "def upgrade():\n    %s\n\n\ndef downgrade():\n    %s\n" % (up, down))
    assert drv["downgrade_kind"](source) == kind


def resolver_of(drv, sources):
    def resolve(name):
        return drv["SourceModule"](sources[name]) if name in sources else None
    return resolve


def test_downgrade_kind_follows_imported_helpers(drv):
    helpers = {"oss.dm.x": textwrap.dedent('''\
        def upgrade_x(session):
            session.execute(text("UPDATE workflow_revisions SET flags = NULL"))

        def downgrade_x(session):
            raise NotImplementedError("Restore from backup if needed.")

        def noop(session):
            """Nothing to undo."""
        ''')}
    revision = textwrap.dedent('''\
        from alembic import context
        from oss.dm.x import upgrade_x, downgrade_x, noop

        def upgrade():
            upgrade_x(session=context.get_bind())

        def downgrade():
            connection = context.get_bind()
            {}(session=connection)
        ''')
    resolve = resolver_of(drv, helpers)
    assert drv["downgrade_kind"](revision.format("downgrade_x"), resolve) == "raises"
    assert drv["downgrade_kind"](revision.format("noop"), resolve) == "empty"
    assert drv["revision_effects"](revision.format("noop"), resolve)["rewrites"] == ["workflow_revisions"]
    # Without the helpers' files the revision is taken at its word.
    assert drv["downgrade_kind"](revision.format("downgrade_x")) is None


def test_revision_effects_literal_calls(drv):
    source = textwrap.dedent('''\
        import sqlalchemy as sa
        from alembic import op

        DELETE_ORPHANS = sa.text("DELETE FROM public.secrets WHERE project_id IS NULL")

        def upgrade():
            op.drop_table("session_states")
            op.drop_column("organizations", "owner")
            op.drop_column(table_name="mounts", column_name="purpose")
            with op.batch_alter_table("testcase_blobs") as batch_op:
                batch_op.drop_column("slug")
            conn = op.get_bind()
            conn.execute(DELETE_ORPHANS)
            conn.execute(sa.text("""
                -- DELETE FROM not_this_one (a comment)
                TRUNCATE TABLE "nodes", spans CASCADE
            """))
            sql = "UPDATE evaluation_runs er SET flags = flags || '{}'::jsonb"
            conn.execute(sa.text(sql))
            op.execute("ALTER TABLE app_db DROP COLUMN IF EXISTS user_id, DROP COLUMN folder_id")
            op.execute(f"DROP TABLE IF EXISTS {unknown_name}")

        def downgrade():
            op.drop_table("never_counted")
        ''')
    effects = drv["revision_effects"](source)
    assert dict((key, sorted(value)) for key, value in effects.items()) == {
        "drops": ["session_states"],
        "truncates": ["nodes", "spans"],
        "deletes_from": ["secrets"],
        "drops_columns": ["app_db.folder_id", "app_db.user_id", "mounts.purpose", "organizations.owner",
                          "testcase_blobs.slug"],
        "rewrites": ["evaluation_runs"],
    }


def test_update_columns(drv):
    update = drv["update_columns"]
    assert update(" flags = CASE WHEN flags IS NULL THEN '{}'::jsonb ELSE flags END WHERE x") == ("flags",)
    assert update(' "references" = :refs, meta = coalesce(meta, \'a, b\') WHERE id = :id') == ("references", "meta")
    assert update(" user_ids = (SELECT array_agg(x) FROM y WHERE z)") == ("user_ids",)
    assert update(" (a, b) = (1, 2)") is None


def test_sql_steps_ignore_upsert_and_keywords(drv):
    steps = drv["sql_steps"]("INSERT INTO t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET id = excluded.id; "
                             "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES b ON UPDATE CASCADE")
    assert steps == []


# -- the real revision files of Agenta v0.103.5 and v0.113.0 (unpacked from shared/agenta-real) ----

REAL = Path(__file__).resolve().parents[4].parent / "shared" / "agenta-real"
MIGRATIONS = "oss/databases/postgres/migrations"

# Calibrated by hand on v0.113.0 (see the revision files): which downgrades cannot undo their upgrade.
REAL_KINDS_V0_113 = {
    "raises": ["core/3d4e5f6a7b8c", "core/4f5a6b7c8d9e", "core/b3c4d5e6f7a9", "core/c4d5e6f7a8b9", "core/d3e4f5a6b7c8",
               "core/d5e6f7a8b9c0", "core/e6f7a8b9c0d1", "core/e6f7a8b9c0d2", "core/f7a8b9c0d1e2"],
    "empty": ["core/1b2c3d4e5f6a", "core/22d29365f5fc", "core/652f6113b5f5", "core/80910d2fa9a4", "core/91d3b4a8c27f",
              "core/a1b2c3d4e5f6", "core/a7b8c9d0e1f2", "core/b1c2d3e4f5a7", "core/c1c2c3c4c5c6", "core/c2d3e4f5a6b7",
              "core/c9d0e1f2a3b4", "core/cfa14a847972", "core/d4e5f6a7b8c9", "core/e1f2a3b4c5d6", "core/e5f6a7b8c9d0",
              "core/f1e2d3c4b5a6", "tracing/a4b5c6d7e8f9", "tracing/cfa14a847972", "tracing/f3a4b5c6d7e8"],
    "lossy": ["core/0a1b2c3d4e5f", "core/395af3695bca", "core/3b5f5652f611", "core/8089ee7692d1", "core/a2b3c4d5e6f8",
              "core/a9f3e8b7c5d1", "core/aa1b2c3d4e5f", "core/ab12cd34ef56", "core/ac23de45fa67", "core/b1c2d3e4f5a6",
              "core/baa02d66a365", "core/c00a326c625a", "core/d7e8f9a0b1c2", "core/fd77265d65dc",
              "core_oss/oss000000004", "core_oss/oss000000010", "core_oss/oss000000011", "core_oss/oss000000017"],
}


def unpack_real(tmp_path_factory, tag):
    archive = REAL / ("agenta-%s-api-oss.tar.gz" % tag)
    if not archive.is_file():
        pytest.skip("Agenta's real API package is not there: %s (test data in shared/agenta-real)" % archive)
    target = tmp_path_factory.mktemp("agenta-real-" + tag)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/api/oss/" in m.name and (m.isdir() or m.isfile())]
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(target, members=members, **safe)
    return target / ("agenta-" + tag) / "api"


@pytest.fixture(scope="module")
def real_v0_113(tmp_path_factory):
    return unpack_real(tmp_path_factory, "v0.113.0")


@pytest.fixture(scope="module")
def real_v0_103(tmp_path_factory):
    return unpack_real(tmp_path_factory, "v0.103.5")


def real_kinds(drv, api):
    resolve = drv["module_resolver"](str(api))
    kinds = {}
    for path in sorted((api / MIGRATIONS).glob("*/versions/*.py")):
        rev = drv["scan_revision_file"](str(path))[0]
        kind = drv["downgrade_kind"](path.read_bytes(), resolve)
        kinds[(path.parent.parent.name, rev)] = kind
    return kinds


def test_real_downgrade_kinds_v0_113(drv, real_v0_113):
    kinds = real_kinds(drv, real_v0_113)
    found = {}
    for (chain, rev), kind in kinds.items():
        if kind:
            found.setdefault(kind, []).append("%s/%s" % (chain, rev))
    assert dict((k, sorted(v)) for k, v in found.items()) == REAL_KINDS_V0_113
    assert kinds[("core", "3d4e5f6a7b8c")] == "raises"  # drop_legacy_tables
    assert kinds[("core_oss", "oss000000017")] == "lossy"  # drop_session_states: re-created empty
    assert kinds[("core", "c00a326c625a")] == "lossy"  # drops user_id columns, re-adds them empty
    assert kinds[("core", "0a1b2c3d4e5f")] == "lossy"  # deletes unscoped api_keys
    assert kinds[("core", "cfa14a847972")] == "empty"  # drop_nodes, downgrade pass
    assert kinds[("core", "e9f0a1b2c3d4")] is None  # backfills a column it adds: nothing lost
    assert kinds[("core", "park00000000")] is None


def test_real_downgrade_kinds_agree_between_releases(drv, real_v0_103, real_v0_113):
    old, new = real_kinds(drv, real_v0_103), real_kinds(drv, real_v0_113)
    shared = set(old) & set(new)
    assert len(shared) > 40
    assert dict((key, old[key]) for key in shared) == dict((key, new[key]) for key in shared)


def test_real_drop_legacy_tables_effects(drv, real_v0_113):
    path = real_v0_113 / MIGRATIONS / "core" / "versions" / "3d4e5f6a7b8c_drop_legacy_tables.py"
    effects = drv["revision_effects"](path.read_bytes())
    assert len(effects["drops"]) == 20
    assert {"app_db", "testsets", "auto_evaluator_configs", "ids_mapping", "human_evaluations"} <= set(effects["drops"])
    assert effects["truncates"] == effects["deletes_from"] == effects["drops_columns"] == effects["rewrites"] == []


def test_real_effects_through_data_migrations(drv, real_v0_113):
    resolve = drv["module_resolver"](str(real_v0_113))
    versions = real_v0_113 / MIGRATIONS / "core" / "versions"
    (roles,) = versions.glob("b1c2d3e4f5a6_*.py")  # renames roles through core/data_migrations/roles.py
    assert drv["downgrade_kind"](roles.read_bytes(), resolve) == "lossy"
    (extras,) = versions.glob("c4d5e6f7a8b9_*.py")  # its downgrade helper raises NotImplementedError
    assert drv["revision_effects"](extras.read_bytes(), resolve)["rewrites"] == ["workflow_revisions"]
    (session_states,) = (real_v0_113 / MIGRATIONS / "core_oss" / "versions").glob("oss000000017_*.py")
    assert drv["revision_effects"](session_states.read_bytes())["drops"] == ["session_states"]


def test_lossy_downgrade_refused(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    folder = str(tmp_path) + OSS + "/tracing_oss"
    write_rev(folder, "to03", "to02", upgrade='op.drop_table("session_states")',
              downgrade='op.create_table("session_states")')
    fakedb[("agenta_oss_tracing", "alembic_version_oss")] = ["to03"]
    out = plan(drv, str(tmp_path), action="downgrade", chains=["tracing_oss"], targets={"tracing_oss": "to02"})
    assert out["refused"]
    assert out["error"] == ("Refusing to downgrade chain tracing_oss through to03: its upgrade destroyed or rewrote "
                            "data (drops table session_states) that its downgrade cannot bring back; restore from a "
                            "backup or set allow_irreversible: true.")
    out = plan(drv, str(tmp_path), action="downgrade", chains=["tracing_oss"], targets={"tracing_oss": "to02"},
               allow_irreversible=True)
    assert out["ok"], out


def test_effects_phrase(drv):
    effects = {"drops": ["a", "b"], "drops_columns": ["t.c"], "deletes_from": ["k"], "rewrites": []}
    assert drv["effects_phrase"](effects) == "drops table a, drops table b, drops column t.c, 1 more"
    assert drv["effects_phrase"]({}) == "statements whose tables cannot be read statically"


# -- destructive: what the pending revisions will destroy, with the rows there now ---------------


def destructive_g3(root):
    g3_tree(root)
    core_oss = root + OSS + "/core_oss"
    write_rev(core_oss, "co04", "co03", upgrade='op.execute("DELETE FROM api_keys WHERE project_id IS NULL")')
    write_rev(core_oss, "co05", "co04", upgrade='op.drop_table("session_states")\n    op.drop_column("secrets", "slug")')


def test_destructive_in_check_mode(drv, tmp_path, fakedb):
    destructive_g3(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_core", "alembic_version_oss")] = ["co03"]
    fakedb[("agenta_oss_tracing", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_tracing", "alembic_version_oss")] = ["to02"]
    FakeDatabase.rows = {"agenta_oss_core": {"api_keys": 7, "secrets": 3}}
    out = plan(drv, str(tmp_path))
    assert out["ok"], out
    assert out["destructive"] == [
        {"chain": "core_oss", "revision": "co04", "database": "agenta_oss_core", "table": "api_keys",
         "action": "delete", "column": None, "rows": 7},
        {"chain": "core_oss", "revision": "co05", "database": "agenta_oss_core", "table": "session_states",
         "action": "drop", "column": None, "rows": None},
        {"chain": "core_oss", "revision": "co05", "database": "agenta_oss_core", "table": "secrets",
         "action": "drop_column", "column": "slug", "rows": 3},
    ]
    assert out["tables_changed"] is None  # nothing ran


def test_destructive_in_info_and_not_for_downgrade(drv, tmp_path, fakedb):
    destructive_g3(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_core", "alembic_version_oss")] = ["co04"]
    out = plan(drv, str(tmp_path), action="info", chains=["core_oss"])
    assert [(d["revision"], d["table"]) for d in out["destructive"]] == [("co05", "session_states"), ("co05", "secrets")]
    out = plan(drv, str(tmp_path), action="downgrade", chains=["core_oss"], targets={"core_oss": "co03"},
               allow_irreversible=True)
    assert out["destructive"] is None and out["runner"] is None


# -- tables_changed: counting around a run, and who changed what ----------------------------------


def test_table_change_and_row_changes(drv):
    before = {"app_db": 5, "nodes": 3, "spans": 10, "same": 1}
    after = {"nodes": 0, "spans": 12, "same": 1, "new": 0}
    assert drv["row_changes"](before, after) == [
        ("app_db", 5, None, "dropped"), ("new", None, 0, "created"), ("nodes", 3, 0, "fewer"),
        ("spans", 10, 12, "more")]
    assert drv["table_change"](before, after, "same") is None


def test_table_events(drv):
    listings = [("r1", {"a", "b"}), ("r2", {"a", "b", "c"}), ("r3", {"b", "c"})]
    assert drv["table_events"]({"a", "b"}, listings) == {"c": ["r2"], "a": ["r3"]}
    # dropped by one revision, re-created by the next: both named
    assert drv["table_events"]({"t"}, [("r1", set()), ("r2", {"t"})]) == {"t": ["r1", "r2"]}


def test_attribute(drv):
    effects = {"drops": ["old"], "truncates": [], "deletes_from": ["keys"], "drops_columns": [], "rewrites": ["runs"]}
    static = drv["static_attribution"]([("r7", effects), ("r8", dict(effects, drops=[], deletes_from=["keys"]))])
    attribute = drv["attribute"]
    fallback = "chain core (r1..r8)"
    assert attribute("old", "dropped", {"old": ["r5"]}, static, fallback) == "r5"  # seen during the run wins
    assert attribute("old", "dropped", {}, static, fallback) == "r7"  # else the file that drops it
    assert attribute("keys", "fewer", {}, static, fallback) == "r7, r8"
    assert attribute("runs", "more", {}, static, fallback) == fallback  # a rewrite adds no rows
    assert attribute("other", "fewer", {}, static, fallback) == fallback


def test_migrate_counts_and_attributes(drv, tmp_path, fakedb, monkeypatch):
    """A full upgrade: rows counted before, between the chains and the runner, and after."""
    destructive_g3(str(tmp_path))
    runner = tmp_path / ("." + OSS) / "runner.py"
    runner.write_text("print('runner')\n")
    fakedb[("agenta_oss_core", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_core", "alembic_version_oss")] = ["co03"]
    fakedb[("agenta_oss_tracing", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_tracing", "alembic_version_oss")] = ["to02"]
    FakeDatabase.rows = {"agenta_oss_core": {"api_keys": 7, "session_states": 2, "nodes": 3, "runs": 4},
                         "agenta_oss_tracing": {"nodes": 0}}

    def fake_execute(run):
        for chain in run.chains:
            if chain.pending:
                chain.after, chain.applied = [chain.pending[-1]], list(chain.pending)
        FakeDatabase.rows["agenta_oss_core"].update(api_keys=5, runs=6)
        del FakeDatabase.rows["agenta_oss_core"]["session_states"]
        run.listings["core"].append(("co05", {"api_keys", "nodes", "runs"}))

    def fake_runner(run):
        run.runner["ran"] = True
        FakeDatabase.rows["agenta_oss_core"]["nodes"] = 0
        FakeDatabase.rows["agenta_oss_tracing"]["nodes"] = 3

    monkeypatch.setattr(drv["Run"], "execute", fake_execute)
    monkeypatch.setattr(drv["Run"], "run_release_runner", fake_runner)
    out = plan(drv, str(tmp_path), check=False)
    assert out["ok"] and out["changed"], out
    assert out["tables_changed"] == [
        {"database": "agenta_oss_core", "table": "api_keys", "rows_before": 7, "rows_after": 5, "change": "fewer",
         "by": "co04"},
        {"database": "agenta_oss_core", "table": "nodes", "rows_before": 3, "rows_after": 0, "change": "fewer",
         "by": "runner"},
        {"database": "agenta_oss_core", "table": "runs", "rows_before": 4, "rows_after": 6, "change": "more",
         "by": "chain core_oss (co04..co05)"},
        {"database": "agenta_oss_core", "table": "session_states", "rows_before": 2, "rows_after": None,
         "change": "dropped", "by": "co05"},
        {"database": "agenta_oss_tracing", "table": "nodes", "rows_before": 0, "rows_after": 3, "change": "more",
         "by": "runner"},
    ]


def test_nothing_changed_is_an_empty_list(drv, tmp_path, fakedb, monkeypatch):
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_core", "alembic_version_oss")] = ["co02"]
    FakeDatabase.rows = {"agenta_oss_core": {"t": 1}}
    monkeypatch.setattr(drv["Run"], "execute", lambda run: None)
    out = plan(drv, str(tmp_path), check=False, chains=["core", "core_oss"])
    assert out["ok"] and out["tables_changed"] == [] and out["changed"] is False


# -- the release's own runner ---------------------------------------------------------------------


def write_runner(root, body, package="oss"):
    folder = root + (OSS if package == "oss" else EE)
    os.makedirs(folder, exist_ok=True)
    with open(folder + "/runner.py", "w") as handle:
        handle.write(textwrap.dedent(body))


def at_head(fakedb):
    fakedb[("agenta_oss_core", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_core", "alembic_version_oss")] = ["co03"]
    fakedb[("agenta_oss_tracing", "alembic_version")] = ["park00000000"]
    fakedb[("agenta_oss_tracing", "alembic_version_oss")] = ["to02"]


def one_pending(drv, fakedb, monkeypatch):
    """core_oss one revision behind; 'running' it moves the fake version table (Alembic needs a real database)."""
    at_head(fakedb)
    fakedb[("agenta_oss_core", "alembic_version_oss")] = ["co02"]

    def execute(run):
        for chain in run.chains:
            if chain.pending:
                fakedb[(run.dbs[chain.db].dbname, chain.table)] = [chain.target]
                chain.after, chain.applied, chain.ran = [chain.target], list(chain.pending), True
    monkeypatch.setattr(drv["Run"], "execute", execute)


def test_runner_not_run_when_nothing_is_pending(drv, tmp_path, fakedb):
    g3_tree(str(tmp_path))
    at_head(fakedb)
    write_runner(str(tmp_path), "raise SystemExit('must not run')\n")
    out = plan(drv, str(tmp_path), check=False, timeout=120)
    assert out["ok"] and out["runner"]["ran"] is False and out["runner"]["note"].startswith("Nothing is pending")
    assert FakeDatabase.locks == []  # nothing to do: no lock taken


def test_release_runner_module(drv, tmp_path):
    root = str(tmp_path)
    assert drv["release_runner_module"](root, "oss") is None
    write_runner(root, "")
    assert drv["release_runner_module"](root, "oss") == "oss.databases.postgres.migrations.runner"
    write_runner(root, "", package="ee")
    assert drv["release_runner_module"](root, "ee") == "ee.databases.postgres.migrations.runner"
    assert drv["release_runner_module"](root, "oss") == "oss.databases.postgres.migrations.runner"


def test_runner_runs_from_app_with_the_container_environment(drv, tmp_path, fakedb, monkeypatch):
    g3_tree(str(tmp_path))
    one_pending(drv, fakedb, monkeypatch)
    write_runner(str(tmp_path), """\
        import os, sys, warnings
        warnings.warn("noise", UserWarning)
        print("cwd", os.getcwd())
        print("spec", os.environ.get("AGENTA_FLEET_ALEMBIC_SPEC"))
        print("path", os.environ["PYTHONPATH"].split(os.pathsep)[0])
        print("password", os.environ["POSTGRES_URI_CORE"])
        """)
    monkeypatch.setenv(SPEC_ENV, "{}")
    out = plan(drv, str(tmp_path), check=False, timeout=120)
    assert out["ok"], out
    runner = out["runner"]
    assert runner["ran"] is True and runner["rc"] == 0 and runner["note"] is None
    assert runner["command"] == "%s -m oss.databases.postgres.migrations.runner" % sys.executable
    lines = runner["output"].splitlines()
    assert "cwd %s/app" % tmp_path in lines and "path %s/app" % tmp_path in lines
    assert "spec None" in lines
    assert "password postgresql+asyncpg://username:********@postgres:5432/agenta_oss_core" in lines
    assert FakeDatabase.locks == ["agenta_oss_core", "agenta_oss_tracing"]  # it runs under the lock
    assert out["changed"] is True and out["tables_changed"] == []  # core_oss moved; no table changed


def test_runner_failure_fails_the_run(drv, tmp_path, fakedb, monkeypatch):
    g3_tree(str(tmp_path))
    one_pending(drv, fakedb, monkeypatch)
    write_runner(str(tmp_path), """\
        print("copying nodes")
        raise RuntimeError("pg_dump: error: connection to server failed")
        """)
    out = plan(drv, str(tmp_path), check=False, timeout=120)
    assert not out["ok"]
    assert out["error"] == ("The release's runner (python -m oss.databases.postgres.migrations.runner) failed after "
                            "the chains reached head: RuntimeError: pg_dump: error: connection to server failed.")
    assert out["runner"]["rc"] == 1 and out["runner"]["ran"] is True


def test_runner_that_prints_a_failure_and_exits_0(drv, tmp_path, fakedb, monkeypatch):
    g3_tree(str(tmp_path))
    one_pending(drv, fakedb, monkeypatch)
    write_runner(str(tmp_path), """\
        print("\\u274c pg_dump/psql failed: Command 'pg_dump' returned non-zero exit status 1.")
        """)
    out = plan(drv, str(tmp_path), check=False, timeout=120)
    assert out["ok"]
    assert out["runner"]["note"].startswith("The runner exited 0 but reported: \u274c pg_dump/psql failed")


@pytest.mark.parametrize("spec,note", [
    ({"check": True}, "Check mode: the release's runner would run after the chains."),
    ({"check": False, "release_runner": False}, "release_runner is false: the release's runner is not run."),
    ({"check": False, "chains": ["core", "core_oss"]}, "The release's runner is not run: this run is limited"),
    ({"check": False, "targets": {"core_oss": "co02"}}, "The release's runner is not run: this run is limited"),
])
def test_runner_not_run(drv, tmp_path, fakedb, monkeypatch, spec, note):
    g3_tree(str(tmp_path))
    at_head(fakedb)
    fakedb[("agenta_oss_core", "alembic_version_oss")] = ["co01"]
    write_runner(str(tmp_path), "raise SystemExit('must not run')\n")
    monkeypatch.setattr(drv["Run"], "execute", lambda run: None)
    out = plan(drv, str(tmp_path), **spec)
    assert out["ok"], out
    assert out["runner"]["ran"] is False and out["runner"]["note"].startswith(note)


def test_no_runner_in_g1(drv, tmp_path, fakedb, monkeypatch):
    g1_tree(str(tmp_path))
    fakedb[("agenta_oss", "alembic_version")] = ["1a05"]
    monkeypatch.setattr(drv["Run"], "execute", lambda run: None)
    out = plan(drv, str(tmp_path), check=False)
    assert out["ok"]
    assert out["runner"]["ran"] is False and out["runner"]["command"] is None
    assert out["runner"]["note"].startswith("This image has no runner module")


def test_last_error_in(drv):
    output = "Traceback (most recent call last):\n  File \"x\", line 1\nsqlalchemy.exc.OperationalError: boom\n\n"
    assert drv["last_error_in"](output) == "sqlalchemy.exc.OperationalError: boom"
    assert drv["last_error_in"]("done\nexit now\n") == "exit now"
    assert drv["last_error_in"]("") == "no output"


def test_a_copy_in_a_subfolder_alembic_does_not_read_is_ignored(drv, tmp_path, fakedb):
    # Without recursive_version_locations Alembic reads only the versions folder itself.
    folder = g1_tree(str(tmp_path))
    os.makedirs(os.path.join(folder, "versions", "old"))
    with open(os.path.join(folder, "versions", "old", "1a02_copy.py"), "w") as handle:
        handle.write('revision = "1a02"\ndown_revision = "1a01"\n')
    out = plan(drv, str(tmp_path))
    assert not out.get("refused"), out


@pytest.mark.parametrize("url,older", [
    ("postgresql://u:p@postgres:5432/agenta_oss_core", "postgresql://u:p@postgres:5432/agenta_oss"),
    ("postgresql://u:p@postgres:5432/agenta_oss_tracing?sslmode=disable",
     "postgresql://u:p@postgres:5432/agenta_oss?sslmode=disable"),
    ("postgresql://u:p@postgres:5432/agenta_ee_core", "postgresql://u:p@postgres:5432/agenta_ee"),
    ("postgresql://u:p@postgres:5432/agenta_oss", None),
    ("postgresql://u:p@postgres:5432/mydb_core", None),
])
def test_the_g1_name_of_a_split_database_is_found_for_the_v045_rename_sentence(drv, url, older):
    assert drv["g1_database_url"](url) == older


@pytest.mark.parametrize("url,name", [
    ("postgresql://u:p@postgres:5432/agenta_oss_core", "agenta_oss_core"),
    ("postgresql://u:p@postgres:5432/agenta_oss?sslmode=disable", "agenta_oss"),
])
def test_the_database_a_url_names(drv, url, name):
    assert drv["db_name_of"](url) == name


def test_a_database_the_split_creates_plans_as_empty(drv):
    absent = drv["Absent"]("agenta_oss_tracing")
    assert absent.current("alembic_version") == [] and absent.count_rows("spans") is None
    assert absent.table_counts() == {} and absent.name() == "agenta_oss_tracing"


# -- the plan reads the ini itself: no Alembic, no SQLAlchemy imported ----------------------------------------


@pytest.mark.parametrize("ini, folders", [
    ("[alembic]\nscript_location = {folder}\n", ["."]),
    ("[alembic]\nscript_location = %(here)s\n", ["."]),
    ("[alembic]\nscript_location = .\nversion_locations = %(here)s/a %(here)s/b\n", ["a", "b"]),
    ("[alembic]\nscript_location = %(here)s\nversion_locations = %(here)s/a,%(here)s/b\n"
     "recursive_version_locations = true\n", ["a", "b"]),
    ("[alembic]\nscript_location = {folder}\nprepend_sys_path = .\n"
     "version_path_separator = os  # Use os.pathsep. Default configuration used for new projects.\n", ["."]),
])
def test_the_plan_reads_the_ini_as_alembic_does(drv, tmp_path, ini, folders):
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    folder = str(tmp_path / "chain")
    for sub in folders:
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    with open(os.path.join(folder, "alembic.ini"), "w") as handle:
        handle.write(ini.format(folder=folder))
    chain = drv["Chain"]("core", str(tmp_path))
    chain.ini, chain.folder = os.path.join(folder, "alembic.ini"), folder
    os.chdir(folder)
    ours = chain.read_ini()
    config = Config("alembic.ini")
    # (Alembic keeps a relative script_location relative; the working folder is the chain's, so they agree.)
    assert ours == (os.path.abspath(ScriptDirectory.from_config(config).dir), config.get_main_option("version_locations"),
                    config.get_main_option("recursive_version_locations"))


@pytest.mark.parametrize("ini", [
    "[alembic]\nscript_location = somepackage:migrations\n",  # a package resource: Alembic resolves it
    "[alembic]\nscript_location = %(here)s/missing\n",  # Alembic says the folder does not exist
    "[other]\nscript_location = .\n",  # no [alembic] section
    "not an ini\n",
])
def test_what_only_alembic_can_read_is_left_to_alembic(drv, tmp_path, ini):
    folder = str(tmp_path)
    with open(os.path.join(folder, "alembic.ini"), "w") as handle:
        handle.write(ini)
    chain = drv["Chain"]("core", folder)
    chain.ini, chain.folder = os.path.join(folder, "alembic.ini"), folder
    os.chdir(folder)
    assert chain.read_ini() is None


def test_a_plan_imports_neither_alembic_nor_sqlalchemy(drv, tmp_path, fakedb, monkeypatch):
    # Importing them is most of a plan's time in a one-shot container of an image without bytecode; only a
    # migration needs them (Chain.config).
    g3_tree(str(tmp_path))
    fakedb[("agenta_oss_core", "alembic_version")] = ["c002"]
    for name in [m for m in sys.modules if m == "alembic" or m.startswith(("alembic.", "sqlalchemy"))] + [
            "alembic", "sqlalchemy"]:
        monkeypatch.setitem(sys.modules, name, None)  # an import of it raises ImportError
    out = plan(drv, str(tmp_path), action="info")
    assert out["ok"] and not out.get("error"), out
    assert [c["name"] for c in out["chains"]] == ["core", "core_oss", "tracing", "tracing_oss"]
