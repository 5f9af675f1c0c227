"""Pure-logic tests of the lab's G2/G3 migration runner stand-in (no database needed).

The runner lives at lab/standin/g3/runner.py and is not on sys.path: it is imported by path.
"""
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER_PATH = REPO / "lab" / "standin" / "g3" / "runner.py"


@pytest.fixture(name="runner", scope="module")
def runner_fixture():
    spec = importlib.util.spec_from_file_location("lab_standin_runner", RUNNER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "word",
    ["true", "1", "t", "y", "yes", "on", "enable", "enabled",
     "TRUE", "True", "Yes", "ON", "Enabled", " true ", "t\n"],
)
def test_true_words(runner, word):
    assert runner.is_true_word(word) is True


@pytest.mark.parametrize(
    "word", [None, "", " ", "false", "0", "f", "n", "no", "off", "disable", "disabled",
             "tru", "yes please", "2", "enabledd"],
)
def test_other_words_are_false(runner, word):
    assert runner.is_true_word(word) is False


def test_switch_default_is_on(runner):
    assert runner.resolve_switch({}) == (True, "default")


def test_switch_empty_values_count_as_unset(runner):
    env = {"ALEMBIC_AUTO_MIGRATIONS": "", "AGENTA_AUTO_MIGRATIONS": "  "}
    assert runner.resolve_switch(env) == (True, "default")


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"ALEMBIC_AUTO_MIGRATIONS": "false", "AGENTA_AUTO_MIGRATIONS": "true"},
         (False, "ALEMBIC_AUTO_MIGRATIONS")),
        ({"ALEMBIC_AUTO_MIGRATIONS": "yes", "AGENTA_AUTO_MIGRATIONS": "false"},
         (True, "ALEMBIC_AUTO_MIGRATIONS")),
        ({"AGENTA_AUTO_MIGRATIONS": "false"}, (False, "AGENTA_AUTO_MIGRATIONS")),
        ({"AGENTA_AUTO_MIGRATIONS": "Enabled"}, (True, "AGENTA_AUTO_MIGRATIONS")),
        ({"ALEMBIC_AUTO_MIGRATIONS": "", "AGENTA_AUTO_MIGRATIONS": "off"},
         (False, "AGENTA_AUTO_MIGRATIONS")),
        ({"ALEMBIC_AUTO_MIGRATIONS": "nonsense"}, (False, "ALEMBIC_AUTO_MIGRATIONS")),
    ],
)
def test_switch_precedence(runner, env, expected):
    assert runner.resolve_switch(env) == expected


def test_singular_doc_name_is_ignored(runner):
    # the documented AGENTA_AUTO_MIGRATION (singular) is read by nothing
    assert runner.resolve_switch({"AGENTA_AUTO_MIGRATION": "false"}) == (True, "default")


@pytest.mark.parametrize(
    "switch_on, state, migrate",
    [
        (True, "present", True),
        (False, "present", False),
        (False, "missing", True),
        (False, "empty", True),
        (True, "missing", True),
    ],
)
def test_decide(runner, switch_on, state, migrate):
    assert runner.decide(switch_on, state)[0] is migrate


def _make_chains(base, names):
    for name in names:
        (base / name).mkdir(parents=True)
        (base / name / "alembic.ini").write_text("[alembic]\n")


def test_chain_order_constant(runner):
    assert runner.CHAIN_ORDER == ("core", "core_oss", "core_ee", "tracing", "tracing_oss", "tracing_ee")


def test_discover_ee_chains_in_their_own_folder(runner, tmp_path):
    """Agenta's EE image keeps core_ee and tracing_ee under /app/ee/...: the six chains in EE order."""
    _make_chains(tmp_path / "oss", ["tracing_oss", "tracing", "core_oss", "core"])
    _make_chains(tmp_path / "ee", ["tracing_ee", "core_ee"])
    assert runner.discover_chains(str(tmp_path / "oss"), str(tmp_path / "ee")) == [
        "core", "core_oss", "core_ee", "tracing", "tracing_oss", "tracing_ee"]


def test_ee_databases_and_split(runner):
    assert runner.version_table_for("core_ee") == "alembic_version_ee"
    assert runner.database_url("tracing_ee", {}, "ee").endswith("@postgres:5432/agenta_ee_tracing")
    assert runner.split_actions({"agenta_ee", "supertokens_ee"}, "ee") == [
        ("rename", "agenta_ee", "agenta_ee_core"), ("rename", "supertokens_ee", "agenta_ee_supertokens"),
        ("create", "agenta_ee_tracing", "agenta_ee_tracing")]


def test_discover_g3_order(runner, tmp_path):
    _make_chains(tmp_path, ["tracing_oss", "tracing", "core_oss", "core"])
    assert runner.discover_chains(str(tmp_path)) == ["core", "core_oss", "tracing", "tracing_oss"]


def test_discover_g2_has_only_legacy_chains(runner, tmp_path):
    _make_chains(tmp_path, ["tracing", "core"])
    (tmp_path / "versions").mkdir()  # unrelated folder
    assert runner.discover_chains(str(tmp_path)) == ["core", "tracing"]


def test_discover_ignores_folders_without_ini_and_unknown_chains(runner, tmp_path):
    _make_chains(tmp_path, ["core", "core_ee", "tracing"])
    (tmp_path / "core_oss").mkdir()  # no alembic.ini
    assert runner.discover_chains(str(tmp_path)) == ["core", "tracing"]


def test_discover_empty(runner, tmp_path):
    assert runner.discover_chains(str(tmp_path)) == []


def test_discover_real_tree(runner):
    assert runner.discover_chains(str(RUNNER_PATH.parent), str(RUNNER_PATH.parents[1] / "ee")) == list(
        runner.CHAIN_ORDER)


def test_version_tables(runner):
    assert runner.version_table_for("core") == "alembic_version"
    assert runner.version_table_for("tracing") == "alembic_version"
    assert runner.version_table_for("core_oss") == "alembic_version_oss"
    assert runner.version_table_for("tracing_oss") == "alembic_version_oss"


def test_urls_from_uri_variables(runner):
    env = {
        "POSTGRES_URI_CORE": "postgresql+asyncpg://u:p@db:5432/agenta_oss_core",
        "POSTGRES_URI_TRACING": "postgresql://u:p@db:5432/agenta_oss_tracing",
    }
    assert runner.database_url("core", env) == env["POSTGRES_URI_CORE"]
    assert runner.database_url("core_oss", env) == env["POSTGRES_URI_CORE"]
    assert runner.database_url("tracing_oss", env) == "postgresql+asyncpg://u:p@db:5432/agenta_oss_tracing"
    assert runner.sync_url(runner.database_url("core", env)) == "postgresql://u:p@db:5432/agenta_oss_core"


def test_urls_fallback(runner):
    env = {"POSTGRES_USER": "alice", "POSTGRES_PASSWORD": "p@ss word", "POSTGRES_DB_PREFIX": "agenta_ee"}
    assert runner.database_url("core", env) == "postgresql+asyncpg://alice:p%40ss%20word@postgres:5432/agenta_ee_core"
    assert runner.database_url("tracing", {}) == "postgresql+asyncpg://username:password@postgres:5432/agenta_oss_tracing"


@pytest.mark.parametrize("existing, expected", [
    # a G1 server: Agenta's v0.45 split renames both and creates the tracing database
    ({"postgres", "agenta_oss", "supertokens_oss"},
     [("rename", "agenta_oss", "agenta_oss_core"), ("rename", "supertokens_oss", "agenta_oss_supertokens"),
      ("create", "agenta_oss_tracing", "agenta_oss_tracing")]),
    # already split: nothing
    ({"agenta_oss_core", "agenta_oss_supertokens", "agenta_oss_tracing"}, []),
    # both names (a rollback that kept the new ones): nothing, as in Agenta's runner
    ({"agenta_oss", "agenta_oss_core", "agenta_oss_supertokens", "agenta_oss_tracing"}, []),
    # a fresh server
    (set(), [("create", "agenta_oss", "agenta_oss_core"), ("create", "supertokens_oss", "agenta_oss_supertokens"),
             ("create", "agenta_oss_tracing", "agenta_oss_tracing")]),
])
def test_split_actions_follow_agentas_rename_map(runner, existing, expected):
    assert runner.split_actions(existing) == expected
