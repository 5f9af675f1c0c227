"""Unit tests of agenta.fleet.compose_release that need no Docker engine: its docs, the refusals of bad input
before the host is read, the atomic write and the scrubbing of compose's error lines. The module's work on a host
is proven on the lab (tests/integration/test_real_release.py)."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible.module_utils.testing import patch_module_args

from ansible_collections.agenta.fleet.plugins.doc_fragments.compose_deployment import ModuleDocFragment
from ansible_collections.agenta.fleet.plugins.modules import compose_release


def call(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            compose_release.main()
    out = json.loads(capsys.readouterr().out)
    out["_rc"] = info.value.code
    return out


def test_docs_name_every_option():
    doc = yaml.safe_load(compose_release.DOCUMENTATION)
    yaml.safe_load(compose_release.EXAMPLES)
    returned = yaml.safe_load(compose_release.RETURN)
    # compose_dir, compose_file, env_file and compose_project come from the doc fragment agenta.fleet.compose_deployment
    assert doc["extends_documentation_fragment"] == ["agenta.fleet.compose_deployment"]
    fragment = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(doc["options"]) | set(fragment) == {"content", "env_example", "compose_dir", "compose_file", "env_file",
                                                   "compose_project", "tag", "image_prefix", "state", "stop_timeout",
                                                   "postgres_service", "postgres_move"}
    assert {"summary", "would_change", "added", "removed", "pins", "long_running"} <= set(returned)


def test_an_empty_release_file_is_refused(tmp_path, capsys):
    out = call(capsys, content="  \n", compose_dir=str(tmp_path))
    assert out["failed"] and out["msg"].startswith("The release's compose file (content) is empty;")


def test_a_missing_env_file_is_refused_by_name(tmp_path, capsys):
    out = call(capsys, content="services: {}\n", compose_dir=str(tmp_path))
    assert out["failed"]
    assert out["msg"] == ("The env file %s does not exist on this host; check agenta_compose_dir and agenta_env_file."
                          % (tmp_path / ".env.oss.gh"))


def test_an_env_file_compose_cannot_read_is_refused_without_its_values(tmp_path, capsys):
    (tmp_path / ".env.oss.gh").write_text("POSTGRES_PASSWORD='unterminated\n")
    out = call(capsys, content="services: {}\n", compose_dir=str(tmp_path))
    assert out["failed"] and "unterminated quote" in out["msg"] and "POSTGRES_PASSWORD='" not in out["msg"]


def test_scrub_hides_the_env_files_secrets():
    env = {"POSTGRES_PASSWORD": "hunter2", "AGENTA_API_IMAGE_TAG": "v1", "POSTGRES_URI_CORE": "postgresql://u:hunter2@db/x"}
    line = "service api: invalid value postgresql://u:hunter2@db/x for   hunter2 (tag v1)"
    text = compose_release.scrub(line, env)
    assert "hunter2" not in text and "v1" in text and "  " not in text


def test_write_atomic_keeps_mode_and_replaces(tmp_path):
    path = tmp_path / "docker-compose.gh.yml"
    path.write_bytes(b"old\n")
    os.chmod(path, 0o640)
    compose_release.write_atomic(str(path), b"new\n")
    assert path.read_bytes() == b"new\n" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["docker-compose.gh.yml"]  # no temporary file left
    fresh = tmp_path / "env"
    compose_release.write_atomic(str(fresh), b"A=1\n", default_mode=0o600)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
