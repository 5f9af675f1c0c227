"""Unit tests of module_utils/rehearsal.py: scratch names, URLs pointed at the copies, the copy and drop scripts."""

from __future__ import annotations

import subprocess

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import rehearsal

G3_ENV = {"POSTGRES_URI_CORE": "postgresql+asyncpg://username:p%40ss@postgres:5432/agenta_oss_core",
          "POSTGRES_URI_TRACING": "postgresql+asyncpg://username:p%40ss@postgres:5432/agenta_oss_tracing"}


def test_scratch_name_is_fixed_and_fits_postgres():
    assert rehearsal.scratch_name("agenta_oss_core") == "agenta_oss_core_rehearsal"
    assert len(rehearsal.scratch_name("x" * 80)) == 63


def test_plan_of_a_g3_env_file():
    server, copies, overrides = rehearsal.plan(G3_ENV)
    assert server == ("postgres", 5432, "username", "p@ss")
    assert copies == [("agenta_oss_core", "agenta_oss_core_rehearsal"),
                      ("agenta_oss_tracing", "agenta_oss_tracing_rehearsal")]
    assert overrides == {
        "POSTGRES_URI_CORE": "postgresql+asyncpg://username:p%40ss@postgres:5432/agenta_oss_core_rehearsal",
        "POSTGRES_URI_TRACING": "postgresql+asyncpg://username:p%40ss@postgres:5432/agenta_oss_tracing_rehearsal"}


def test_plan_without_uris_uses_agentas_defaults():
    server, copies, overrides = rehearsal.plan({"POSTGRES_PASSWORD": "s3cret"})
    assert server == ("postgres", 5432, "username", "s3cret")
    assert [c[0] for c in copies] == ["agenta_oss", "agenta_oss_core", "agenta_oss_tracing"]
    assert overrides["POSTGRES_URI"] == "postgresql://username:s3cret@postgres:5432/agenta_oss_rehearsal"


def test_plan_refuses_two_servers_and_odd_names():
    with pytest.raises(rehearsal.RehearsalError, match="more than one server"):
        rehearsal.plan(dict(G3_ENV, POSTGRES_URI_TRACING="postgresql://u:p@other:5432/agenta_oss_tracing"))
    with pytest.raises(rehearsal.RehearsalError, match="not a plain name"):
        rehearsal.plan({"POSTGRES_URI": "postgresql://u:p@postgres:5432/bad%24name"})
    with pytest.raises(rehearsal.RehearsalError, match="no host or no database"):
        rehearsal.plan({"POSTGRES_URI": "postgresql://u:p@postgres:5432/"})


def test_scripts_carry_no_secret_and_parse_in_bash():
    _server, copies, _o = rehearsal.plan(G3_ENV)
    for script in (rehearsal.copy_script(copies), rehearsal.drop_script(copies)):
        assert "p@ss" not in script and "p%40ss" not in script
        assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    copy = rehearsal.copy_script(copies)
    assert "pg_dump -Fc -d 'agenta_oss_core' | pg_restore --no-owner --no-privileges --exit-on-error " \
           "-d 'agenta_oss_core_rehearsal'" in copy
    assert 'DROP DATABASE IF EXISTS "agenta_oss_tracing_rehearsal" WITH (FORCE)' in rehearsal.drop_script(copies)


def test_copied_and_unscratch():
    assert rehearsal.copied("noise\ncopied agenta_oss_core\ncopied agenta_oss_tracing\n") == [
        "agenta_oss_core", "agenta_oss_tracing"]
    result = {"tables_changed": [{"database": "agenta_oss_core_rehearsal", "table": "testsets"}],
              "destructive": [{"database": "agenta_oss_core_rehearsal", "table": "app_db"}]}
    out = rehearsal.unscratch(result, [("agenta_oss_core", "agenta_oss_core_rehearsal")])
    assert out["tables_changed"][0]["database"] == "agenta_oss_core"
    assert out["destructive"][0]["database"] == "agenta_oss_core"
