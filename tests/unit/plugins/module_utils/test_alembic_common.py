"""Unit tests of the module-side helpers: env-file parsing, masking, result parsing, validation."""

from __future__ import annotations

import json

import pytest


try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import alembic_common as common
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_driver import MARKER, PROGRESS


# -- env file ---------------------------------------------------------------------------------


def test_env_file_basics():
    text = """
# Agenta env
AGENTA_API_IMAGE_TAG=v0.113.0
export POSTGRES_USER=username
POSTGRES_PASSWORD='pa ss#word'
EMPTY=
SPACED = value with spaces   # a comment
HASH=abc#not-a-comment
"""
    assert common.parse_env_file(text) == {
        "AGENTA_API_IMAGE_TAG": "v0.113.0",
        "POSTGRES_USER": "username",
        "POSTGRES_PASSWORD": "pa ss#word",
        "EMPTY": "",
        "SPACED": "value with spaces",
        "HASH": "abc#not-a-comment",
    }


def test_env_file_double_quotes_and_references():
    text = (
        'POSTGRES_USER=username\n'
        'POSTGRES_PASSWORD="pw"\n'
        'POSTGRES_URI_CORE="postgresql+asyncpg://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/agenta_oss_core"\n'
        'GREETING="line1\\nline2 \\"quoted\\""\n'
        "LITERAL='${POSTGRES_USER}'\n"
        'DEFAULTED=${MISSING:-fallback}\n'
        'BARE=$POSTGRES_USER-x\n'
    )
    env = common.parse_env_file(text)
    assert env["POSTGRES_URI_CORE"] == "postgresql+asyncpg://username:pw@postgres:5432/agenta_oss_core"
    assert env["GREETING"] == 'line1\nline2 "quoted"'
    assert env["LITERAL"] == "${POSTGRES_USER}"
    assert env["DEFAULTED"] == "fallback"
    assert env["BARE"] == "username-x"


def test_env_file_multiline_quoted():
    env = common.parse_env_file('KEY="a\nb"\nNEXT=1\n')
    assert env == {"KEY": "a\nb", "NEXT": "1"}


def test_env_file_bare_name_is_skipped():
    assert common.parse_env_file("FROM_SHELL\nA=1\n") == {"A": "1"}


@pytest.mark.parametrize("text,message", [
    ("=value\n", "Line 1 of env file has an invalid variable name ''."),
    ("A=1\nnot a pair\n", "Line 2 of env file is not KEY=VALUE."),
    ('A="open\n', "Line 1 of env file has an unterminated quote."),
    # The line the quote opens on, not the last line of the file it ran to.
    ("A=1\nB='open\nC=3\nD=4\n", "Line 2 of env file has an unterminated quote."),
])
def test_env_file_errors(text, message):
    with pytest.raises(common.EnvFileError) as info:
        common.parse_env_file(text)
    assert str(info.value) == message


def test_env_file_last_value_wins():
    assert common.parse_env_file("A=1\nA=2\n") == {"A": "2"}


# -- masking ----------------------------------------------------------------------------------


def test_mask_url_password():
    text = "sqlalchemy.exc: could not connect to postgresql+asyncpg://username:password@postgres:5432/agenta_oss"
    assert common.mask(text) == ("sqlalchemy.exc: could not connect to "
                                 "postgresql+asyncpg://username:********@postgres:5432/agenta_oss")


def test_mask_env_password_values():
    env = {"POSTGRES_PASSWORD": "hunter22", "DB_PASSWORD_FILE": "", "OTHER": "hunter"}
    assert common.mask("pw=hunter22 other=hunter", env) == "pw=******** other=hunter"


def test_mask_leaves_plain_text():
    assert common.mask("INFO  [alembic.runtime.migration] Running upgrade a -> b") == \
        "INFO  [alembic.runtime.migration] Running upgrade a -> b"
    assert common.mask("") == ""
    assert common.mask(None) is None


# -- driver output ----------------------------------------------------------------------------


def test_parse_driver_output_takes_marked_line():
    result = {"ok": True, "chains": []}
    stdout = "noise\n" + MARKER + json.dumps(result) + "\n"
    assert common.parse_driver_output(stdout.encode()) == result


def test_parse_driver_output_last_marked_line_wins():
    stdout = MARKER + '{"ok": false}\n' + MARKER + '{"ok": true}\n'
    assert common.parse_driver_output(stdout) == {"ok": True}


def test_parse_driver_output_missing_or_broken():
    assert common.parse_driver_output("Traceback (most recent call last):\n  boom\n") is None
    assert common.parse_driver_output(MARKER + "{not json\n") is None
    assert common.parse_driver_output(b"") is None


def test_last_line():
    assert common.last_line(b"a\nModuleNotFoundError: No module named 'alembic'\n\n") == \
        "ModuleNotFoundError: No module named 'alembic'"
    assert common.last_line("") == ""


# -- validation and spec ----------------------------------------------------------------------


def params(**kw):
    base = dict(chains=None, targets={}, env_file=None, image=None, network=None, allow_irreversible=False,
                lock_timeout=300)
    base.update(kw)
    return base


def test_validate_downgrade_to_head():
    assert common.validate(params(targets={"oss": "head"}), "downgrade") == (
        "Refusing to downgrade to head: 'alembic downgrade head' is a silent no-op; name the revision to return to.")


def test_validate_downgrade_needs_targets():
    assert common.validate(params(), "downgrade").startswith("state: downgraded needs targets")


def test_validate_unknown_chain():
    assert common.validate(params(chains=["core", "bogus"]), "upgrade") == (
        "Unknown chain bogus; known chains are oss, core, core_oss, core_ee, tracing, tracing_oss, tracing_ee.")


def test_validate_env_file_only_with_image():
    assert "env_file is used only with image" in common.validate(params(env_file="/x"), "upgrade")
    assert common.validate(params(env_file="/x", image="img"), "upgrade") is None


def test_validate_chain_without_target_in_downgrade():
    problem = common.validate(params(chains=["core", "core_oss"], targets={"core_oss": "c1"}), "downgrade")
    assert problem == "Chain core is listed in chains but has no target to downgrade to."


def test_validate_ok():
    assert common.validate(params(targets={"core_oss": "c05500000001"}), "upgrade") is None


def test_build_spec_downgrade_takes_chains_from_targets():
    spec = common.build_spec(params(targets={"tracing_oss": "t1", "core_oss": "c1"}), "downgrade", False, "me")
    assert spec["chains"] == ["core_oss", "tracing_oss"]
    assert spec["action"] == "downgrade" and spec["check"] is False and spec["holder"] == "me"
    assert "password" not in json.dumps(spec).lower()


def test_diff_and_planned_after():
    chains = [
        {"name": "core", "before": "park00000000", "after": "park00000000", "pending": [], "target": "park00000000"},
        {"name": "core_oss", "before": "c1", "after": "c1", "pending": ["c2", "c3"], "target": "c3"},
        {"name": "tracing_oss", "before": None, "after": None, "pending": ["t1"], "target": "t1"},
    ]
    assert common.diff_text(chains, "before") == "core: park00000000\ncore_oss: c1\ntracing_oss: base\n"
    assert [common.planned_after(c) for c in chains] == ["park00000000", "c3", "t1"]


def test_validate_lock_timeout_below_timeout():
    assert common.validate(params(lock_timeout=600, timeout=600), "upgrade") == (
        "lock_timeout (600 s) must be below timeout (600 s), which bounds the whole run.")
    assert common.validate(params(lock_timeout=600, timeout=600), "info") is None


def test_build_spec_carries_runner_switch_and_timeout():
    spec = common.build_spec(params(release_runner=False, timeout=900), "upgrade", False, "me")
    assert spec["release_runner"] is False and spec["timeout"] == 900
    assert common.build_spec(params(), "upgrade", False, "me")["release_runner"] is True


# -- output noise --------------------------------------------------------------------------------

SITE = "/usr/local/lib/python3.11/site-packages"
LITELLM = ("12:01:02 - LiteLLM:WARNING: get_model_cost_map.py:271 - LiteLLM: Failed to fetch remote model cost map "
           "from https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json: The read "
           "operation timed out. Falling back to local backup.")
NOISY = f"""\
{SITE}/pydantic/_internal/_fields.py:198: UserWarning: Field name "schema" in "WorkflowRevisionData" shadows an attribute in parent "BaseModel"
  warnings.warn(
{SITE}/pydantic/_internal/_config.py:345: UserWarning: Valid config keys have changed in V2:
* 'orm_mode' has been renamed to 'from_attributes'
  warnings.warn(message, UserWarning)
{SITE}/agenta/sdk/utils/x.py:12: DeprecationWarning: pkg_resources is deprecated as an API
  import pkg_resources
{LITELLM}
LiteLLM: Failed to fetch remote model cost map from
https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json:
Using SOCKS proxy, but the 'socksio' package is not installed.
Falling back to local backup.
INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.
INFO  [alembic.runtime.migration] Will assume transactional DDL.
INFO  [alembic.runtime.migration] Running upgrade 1b2c3d4e5f6a -> 3d4e5f6a7b8c, drop legacy app-centric tables
/app/oss/databases/postgres/migrations/core/versions/x.py:20: UserWarning: our own warning stays
  warnings.warn("our own warning stays")
Backfilled 41 workflow revisions.
Traceback (most recent call last):
  File "/app/oss/databases/postgres/migrations/core/versions/0a1b2c3d4e5f_x.py", line 60, in upgrade
    raise RuntimeError("resolve them manually before re-running this migration")
RuntimeError: resolve them manually before re-running this migration
"""


def test_filter_output_drops_library_noise_only():
    assert common.filter_output(NOISY) == """\
INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.
INFO  [alembic.runtime.migration] Will assume transactional DDL.
INFO  [alembic.runtime.migration] Running upgrade 1b2c3d4e5f6a -> 3d4e5f6a7b8c, drop legacy app-centric tables
/app/oss/databases/postgres/migrations/core/versions/x.py:20: UserWarning: our own warning stays
  warnings.warn("our own warning stays")
Backfilled 41 workflow revisions.
Traceback (most recent call last):
  File "/app/oss/databases/postgres/migrations/core/versions/0a1b2c3d4e5f_x.py", line 60, in upgrade
    raise RuntimeError("resolve them manually before re-running this migration")
RuntimeError: resolve them manually before re-running this migration
"""


def test_filter_output_keeps_alembic_lines_after_a_warning_without_source_line():
    text = (SITE + "/x.py:1: UserWarning: no source line follows\n"
            "INFO  [alembic.runtime.migration] Running upgrade  -> a1\n")
    assert common.filter_output(text) == "INFO  [alembic.runtime.migration] Running upgrade  -> a1\n"
    assert common.filter_output("") == "" and common.filter_output(None) is None


def test_shape_output_keeps_full_text_only_when_verbose():
    entry = {"output": NOISY}
    common.shape_output(entry, verbose=False)
    assert "LiteLLM" not in entry["output"] and "output_full" not in entry
    entry = {"output": NOISY}
    common.shape_output(entry, verbose=True)
    assert entry["output_full"] == NOISY and "pydantic" not in entry["output"]
    common.shape_output(None, verbose=True)  # no runner: nothing to do


# -- alembic_migration_info ----------------------------------------------------------------------


def test_pending_total_and_summary():
    chains = [{"name": "core", "current": "park00000000", "pending": []},
              {"name": "core_oss", "current": "oss000000020", "pending": ["oss000000021", "oss000000022"]},
              {"name": "tracing_oss", "current": "oss000000004", "pending": ["oss000000005"]}]
    assert common.pending_total(chains) == 3
    assert common.info_summary(chains) == "3 revisions are pending: 2 in core_oss, 1 in tracing_oss."
    assert common.info_summary(chains[:1] + chains[2:]) == "1 revision is pending: 1 in tracing_oss."
    assert common.info_summary(chains[:1]) == "Every chain is at its head in this image; nothing is pending."


def test_unknown_revision_makes_pending_total_null():
    chains = [{"name": "core", "current": "park00000000", "pending": []},
              {"name": "core_oss", "current": "oss000000023", "pending": None, "unknown": ["oss000000023"]}]
    assert common.pending_total(chains) is None
    assert common.info_summary(chains) == (
        "The database is at a revision this image does not know (chain core_oss at oss000000023): migrate with "
        "the image of the release that wrote it, or a newer one.")
    two_heads = [{"name": "oss", "current": "a", "pending": None, "unknown": []}]
    assert common.pending_total(two_heads) is None
    assert common.info_summary(two_heads) == (
        "Chain oss has several heads in this image, so what is pending cannot be told; Alembic would fail with "
        "'Multiple head revisions', so use the image of another release.")


def test_filter_output_drops_agentas_import_time_info_lines():
    """Seen on Agenta's real v0.113.0: its structlog INFO lines at import go, a warning of the same shape stays."""
    text = ("2026-12-02T07:59:58.289Z \x1b[38;5;70m[INFO.]\x1b[0m Outbound egress is in restricted mode: http and "
            "private/loopback targets are blocked. \x1b[38;5;245m[agenta.sdk.utils.net]\x1b[0m \n"
            "INFO  [alembic.runtime.migration] Running upgrade 1b2c3d4e5f6a -> 3d4e5f6a7b8c, drop legacy tables\n"
            "2026-12-02T08:00:01.606Z [INFO.] [access-controls] roles=defaults [oss.src.core.access.controls]\n"
            "2026-12-02T08:00:01.700Z [WARN.] projects without organization [oss.src.core]\n")
    assert common.filter_output(text) == (
        "INFO  [alembic.runtime.migration] Running upgrade 1b2c3d4e5f6a -> 3d4e5f6a7b8c, drop legacy tables\n"
        "2026-12-02T08:00:01.700Z [WARN.] projects without organization [oss.src.core]\n")


def test_validate_negative_lock_timeout():
    assert common.validate(params(lock_timeout=-5), "upgrade") == "lock_timeout must be a number of seconds from 0, not -5."
    assert common.validate(params(lock_timeout=0), "upgrade") is None


def test_progress_lines_are_split_from_the_drivers_other_output():
    err = ("%s{\"chain\": \"core\", \"applied\": 0, \"of\": 2}\n"
           "Traceback (most recent call last):\n"
           "%s{\"chain\": \"core\", \"applied\": 1, \"of\": 2}\n"
           "%snot json\n"
           "ValueError: boom\n") % (PROGRESS, PROGRESS, PROGRESS)
    rest, last = common.split_progress(err.encode())
    assert rest == "Traceback (most recent call last):\nValueError: boom\n"
    assert last == {"chain": "core", "applied": 1, "of": 2}
    assert common.last_line(rest) == "ValueError: boom"


def test_no_progress_lines():
    assert common.split_progress(b"") == ("", None)
    assert common.split_progress("only this\n") == ("only this\n", None)
