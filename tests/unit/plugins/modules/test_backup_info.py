"""Unit tests of agenta.fleet.backup_info's read(): one backup read and checked before a restore, on real files in
tmp_path (the restore itself runs on the lab: tests/integration/backup_restore_cases.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.modules import backup_info

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
from test_backup_set import a_backup  # noqa: E402  # pylint: disable=wrong-import-position


def params(root, **extra):
    return {"backup_dir": str(root), "manifest": None, "host": "web-1", "allow_other_host": False, **extra}


def test_the_latest_backup_is_read_in_its_own_folder(tmp_path):
    folder, manifest = a_backup(tmp_path)
    (folder / "env_file").write_text("AGENTA_API_IMAGE_TAG=v0.43.0\nPOSTGRES_PASSWORD=secret\n")
    manifest["env_file"]["sha256"] = backup_info.backup_set.sha256_of(str(folder / "env_file"))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    out = backup_info.read(params(tmp_path))
    assert out["problem"] is None, out
    assert out["path"] == str(folder / "manifest.json") and out["folder"] == str(folder)
    assert out["manifest"] == manifest and out["made"] is None and out["postgres_move"] is None
    # Only the tag and the port leave the module, never a secret.
    assert out["env"] == {"AGENTA_API_IMAGE_TAG": "v0.43.0"} and "secret" not in json.dumps(out)


def test_the_records_the_upgrade_left_are_read(tmp_path):
    folder = a_backup(tmp_path)[0]
    (folder / "database-rename.json").write_text(json.dumps({"state": "switch to ee", "created": ["agenta_ee_core"]}))
    (folder / "postgres-move.json").write_text("{}")
    out = backup_info.read(params(tmp_path, manifest=str(folder / "manifest.json")))
    assert out["problem"] is None and out["made"]["created"] == ["agenta_ee_core"], out
    assert out["postgres_move"] == str(folder / "postgres-move.json")
    (folder / "database-rename.json").write_text("not json")
    assert backup_info.read(params(tmp_path))["problem"].startswith(
        f"The record {folder}/database-rename.json of the databases the upgrade made is not a JSON object")


def test_a_missing_manifest_is_named_as_asked(tmp_path):
    assert backup_info.read(params(tmp_path, manifest="/nowhere/manifest.json"))["problem"] == (
        "There is no backup manifest at /nowhere/manifest.json on web-1, so nothing was restored.")
    assert backup_info.read(params(tmp_path))["problem"] == (
        f"There is no backup manifest at {tmp_path}/latest/manifest.json on web-1, so nothing was restored.")
    (tmp_path / "dir").mkdir()
    assert backup_info.read(params(tmp_path, manifest=str(tmp_path / "dir")))["problem"].startswith(
        f"There is no backup manifest at {tmp_path}/dir on web-1")


def test_a_manifest_that_is_no_json_and_an_env_file_compose_would_not_read_are_refused(tmp_path):
    folder, manifest = a_backup(tmp_path)
    (folder / "env_file").write_text("A='s3cr3tvalue\n")
    manifest["env_file"]["sha256"] = backup_info.backup_set.sha256_of(str(folder / "env_file"))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    problem = backup_info.read(params(tmp_path))["problem"]
    assert problem == f"Line 1 of {folder}/env_file has an unterminated quote." and "s3cr3t" not in problem
    (folder / "manifest.json").write_text("not json")
    assert backup_info.read(params(tmp_path))["problem"] == (
        f"The file {folder}/manifest.json is not a valid agenta.fleet.backup manifest, so nothing was restored.")
