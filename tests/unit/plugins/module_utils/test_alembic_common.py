"""Unit tests of the module-side helpers: env-file parsing, masking, result parsing, validation."""

from __future__ import annotations

import json

import pytest


import fleet_collection_path  # noqa: F401,E402  (puts ansible_collections.agenta.fleet on sys.path)

from ansible_collections.agenta.fleet.plugins.module_utils import alembic_common as common
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_driver import MARKER


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
